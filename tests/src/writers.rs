//! Patients' devices writing while something happens to the servers (a
//! backup, a kill, a rolling restart): each pushes batches of new entries
//! over HTTP as fast as answers come and keeps what the server
//! acknowledged, so a test can check afterwards that every acknowledged
//! write is there, once, and no batch is there in part.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use journal_core::RecordId;
use journal_core::hlc::{HlcClock, SystemClock};
use journal_core::ids::{DeviceId, MutationId};
use journal_core::sync::{
    ChangeOp, HttpTransport, Mutation, OutcomeStatus, PushRequest, Transport, TransportError,
};

use crate::load::{Lcg, entries};

/// How long a writer keeps resending one batch through failures before the
/// test fails (a deadline, not a measurement).
const RESEND_DEADLINE: Duration = Duration::from_secs(60);

/// One push of new entries, all applied in one transaction or none.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The entries' record ids.
    pub ids: Vec<RecordId>,
    /// When the server's acknowledgement arrived (`None`: never).
    pub acknowledged_at: Option<Instant>,
}

/// What one writer did.
#[derive(Debug, Default)]
pub struct WriteLog {
    /// Every batch sent, acknowledged or not, in order.
    pub batches: Vec<Batch>,
    /// Sends that failed at the connection (or the balancer answered that
    /// no server could take them: 502, 503, 504) and were sent again.
    pub resent: usize,
}

impl WriteLog {
    /// The ids of batches acknowledged before `moment`.
    pub fn acknowledged_before(&self, moment: Instant) -> Vec<RecordId> {
        self.batches
            .iter()
            .filter(|b| b.acknowledged_at.is_some_and(|at| at < moment))
            .flat_map(|b| b.ids.iter().copied())
            .collect()
    }

    /// Every id acknowledged.
    pub fn acknowledged(&self) -> Vec<RecordId> {
        self.batches
            .iter()
            .filter(|b| b.acknowledged_at.is_some())
            .flat_map(|b| b.ids.iter().copied())
            .collect()
    }
}

/// Whether a failed send may be sent again as it is: the request may not
/// have reached a server, or the balancer found none to take it. The push
/// carries its mutation ids, so a resend of one that was applied is
/// answered as the first time.
pub fn is_retryable(error: &TransportError) -> bool {
    match error {
        TransportError::Network(_) => true,
        TransportError::Rejected { status, .. } => matches!(status, 502..=504),
        _ => false,
    }
}

/// Pushes batches of `batch` new entries for the patient `email` to `url`
/// until `stop` is set, each as one push from one device, counting each
/// acknowledged push in `acknowledged`; a send that
/// fails at the connection is sent again, unchanged, until answered. Any
/// other failure, or a refused entry, is the test's failure (returned as
/// an error).
pub fn write_until(
    url: &str,
    email: &str,
    password: &str,
    batch: usize,
    seed: u64,
    stop: &AtomicBool,
    acknowledged: &AtomicUsize,
) -> Result<WriteLog, String> {
    let transport = HttpTransport::new(url).map_err(|e| e.to_string())?;
    let token = sign_in(&transport, email, password)?;
    let device = DeviceId::new();
    let mut clock = HlcClock::new(SystemClock);
    let mut rng = Lcg(seed);
    let mut next = 1_u64;
    let mut log = WriteLog::default();
    while !stop.load(Ordering::Relaxed) {
        let now = chrono::Utc::now();
        let mut mutations = Vec::with_capacity(batch);
        for body in entries(&mut rng, batch) {
            let json = body.to_json().map_err(|e| e.to_string())?;
            mutations.push(Mutation {
                mutation_id: MutationId(next),
                record_id: RecordId::new(),
                kind: body.kind(),
                op: ChangeOp::Upsert,
                hlc: clock.tick(),
                base_hlc: None,
                changed_fields: None,
                created_at: now,
                updated_at: now,
                body: Some(serde_json::from_str(&json).map_err(|e| e.to_string())?),
            });
            next += 1;
        }
        let last = MutationId(next - 1);
        let request = PushRequest {
            device_id: device,
            mutations,
        };
        log.batches.push(Batch {
            ids: request.mutations.iter().map(|m| m.record_id).collect(),
            acknowledged_at: None,
        });
        let deadline = Instant::now() + RESEND_DEADLINE;
        let answer = loop {
            match transport.push(&token, &request) {
                Ok(answer) => break answer,
                Err(error) if is_retryable(&error) && Instant::now() < deadline => {
                    log.resent += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(error) => return Err(format!("{email}: push: {error}")),
            }
        };
        if let Some(refused) = answer
            .results
            .iter()
            .find(|r| r.status != OutcomeStatus::Applied)
        {
            return Err(format!("{email}: an entry was refused: {refused:?}"));
        }
        if answer.last_applied_mutation != Some(last) {
            return Err(format!(
                "{email}: acknowledged through {:?}, sent through {last}",
                answer.last_applied_mutation
            ));
        }
        if let Some(sent) = log.batches.last_mut() {
            sent.acknowledged_at = Some(Instant::now());
        }
        acknowledged.fetch_add(1, Ordering::Relaxed);
    }
    Ok(log)
}

/// Signs in, trying again through connection failures.
pub fn sign_in(transport: &HttpTransport, email: &str, password: &str) -> Result<String, String> {
    let deadline = Instant::now() + RESEND_DEADLINE;
    loop {
        match transport.sign_in(email, password) {
            Ok(tokens) => return Ok(tokens.access_token),
            Err(error) if is_retryable(&error) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => return Err(format!("{email}: sign-in: {error}")),
        }
    }
}

/// Checks what a server holds for one writer's patient against its log:
/// every acknowledged entry (or, with `through`, every one acknowledged
/// before that moment) is held, none twice, no batch in part, and nothing
/// that was never sent. `held` are the record ids a full pull sent, in
/// order. Returns how many of the log's entries are held.
pub fn check_held(
    log: &WriteLog,
    held: &[RecordId],
    through: Option<Instant>,
) -> Result<usize, String> {
    let mut seen = std::collections::HashSet::new();
    for id in held {
        if !seen.insert(*id) {
            return Err(format!("record {id} was sent twice"));
        }
    }
    let sent: std::collections::HashSet<RecordId> = log
        .batches
        .iter()
        .flat_map(|b| b.ids.iter().copied())
        .collect();
    if let Some(stray) = seen.iter().find(|id| !sent.contains(id)) {
        return Err(format!("record {stray} is held but was never sent"));
    }
    let must = match through {
        Some(moment) => log.acknowledged_before(moment),
        None => log.acknowledged(),
    };
    if let Some(lost) = must.iter().find(|id| !seen.contains(id)) {
        return Err(format!(
            "record {lost} was acknowledged but is not held ({} of {} acknowledged are)",
            must.iter().filter(|id| seen.contains(id)).count(),
            must.len()
        ));
    }
    let mut count = 0;
    for (n, batch) in log.batches.iter().enumerate() {
        let present = batch.ids.iter().filter(|id| seen.contains(id)).count();
        if present != 0 && present != batch.ids.len() {
            return Err(format!(
                "batch {n} is held in part: {present} of {}",
                batch.ids.len()
            ));
        }
        count += present;
    }
    Ok(count)
}
