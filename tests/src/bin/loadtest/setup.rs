//! The world the traffic runs in: patients and therapists, care links,
//! shares, a few entries per patient, devices up to date.
//!
//! Accounts are inserted straight into the database with one password hash
//! computed once (registering 1,000 accounts over HTTP would cost 1,000
//! argon2 hashes of setup, and nothing of the traffic measured). Access
//! tokens are minted with the server's own signing code and the secret the
//! server was started with — the same JWTs its sign-in issues, checked by
//! the server on every request. Everything after that goes through HTTP:
//! invitations and links, shares and entries pushed, devices pulling.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use journal_core::RecordKind;
use journal_core::records::{RecordBody, Share};
use journal_e2e::load::{Lcg, PASSWORD, entries, raw_insert};
use journal_server::auth::tokens::AccessTokens;
use journal_server::auth::tokens::{new_refresh_token, secret_hash};
use journal_server::auth::{AuthUser, Role};
use journal_server::store::StoreError;
use journal_server::store::accounts::{insert_account, start_session};
use journal_server::store::{Database, DbConnection};
use uuid::Uuid;

use crate::traffic::{Device, agent, pull_all, push_new};

/// A patient account.
pub struct Patient {
    /// The account id.
    pub id: Uuid,
    /// Its sign-in session, which its access tokens name.
    pub session: Uuid,
    /// The email (the password is [`PASSWORD`]).
    pub email: String,
    /// Index into the world's therapists: the one they are linked to.
    pub therapist: usize,
    /// `Bearer <access token>`.
    pub bearer: String,
}

/// A therapist account.
pub struct Therapist {
    /// The account id.
    pub id: Uuid,
    /// Its sign-in session, which its access tokens name.
    pub session: Uuid,
    /// `Bearer <access token>`.
    pub bearer: String,
}

/// Everyone the traffic acts for, and the server they talk to.
pub struct World {
    /// The server's base URL.
    pub url: String,
    /// Patients.
    pub patients: Vec<Patient>,
    /// Therapists (one per ten patients).
    pub therapists: Vec<Therapist>,
    tokens: AccessTokens,
}

/// The server's default token issuer and audience (`--token-issuer`,
/// `--token-audience`), which the harness does not change.
const ISSUER: &str = "kap-journal";
const AUDIENCE: &str = "kap-journal-api";

fn api(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The argon2 hash of [`PASSWORD`], as the server would store it.
pub fn password_hash() -> Result<String, String> {
    let passwords = journal_server::auth::passwords::Passwords::new(1).map_err(api)?;
    actix_web::rt::System::new()
        .block_on(passwords.hash(PASSWORD.to_owned()))
        .map_err(api)
}

/// Inserts accounts of `role` for `emails`, each with a sign-in session
/// (as a sign-in would make), 500 a transaction; returns their ids and
/// sessions.
pub fn insert_accounts(
    database: &Database,
    hash: &str,
    role: Role,
    emails: &[String],
) -> Result<Vec<(Uuid, Uuid)>, String> {
    let mut ids = Vec::with_capacity(emails.len());
    let mut conn = database.get().map_err(|e| e.to_string())?;
    for chunk in emails.chunks(500) {
        let made = diesel::Connection::transaction::<_, StoreError, _>(&mut *conn, |conn| {
            chunk
                .iter()
                .map(|email| {
                    let name = (role == Role::Therapist).then_some("Dr. Load");
                    let id = insert_account(conn, email, hash, role, name)?;
                    let refresh = secret_hash(&new_refresh_token());
                    let session =
                        start_session(conn, id, &refresh, Duration::from_secs(24 * 3600))?;
                    Ok::<_, StoreError>((id, session))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(api)?;
        ids.extend(made);
    }
    Ok(ids)
}

/// Entries each seeded patient has.
const SEEDED_PER_PATIENT: usize = 100;

/// Stores `records` entries for patients of their own straight into the
/// database before the scenarios run — accounts made in the database, rows
/// written by raw batch inserts, [`SEEDED_PER_PATIENT`] a patient, then
/// `ANALYZE` as a database in use would have had — so that pulls and pushes
/// are measured with that much stored (1,000,000: 10,000 patients × 100).
/// Returns how long it took.
pub fn seed(
    database: &Database,
    hash: &str,
    records: usize,
    run_id: &str,
) -> Result<Duration, String> {
    let started = Instant::now();
    let patients = records.div_ceil(SEEDED_PER_PATIENT);
    let emails: Vec<String> = (0..patients)
        .map(|i| format!("seed-{run_id}-{i}@load.example"))
        .collect();
    let owners = insert_accounts(database, hash, Role::Patient, &emails)?;
    let bodies = entries(&mut Lcg(0x5eed), SEEDED_PER_PATIENT);
    let mut conn = database.get().map_err(|e| e.to_string())?;
    let mut left = records;
    for (i, (owner, _)) in owners.iter().enumerate() {
        let count = left.min(SEEDED_PER_PATIENT);
        raw_insert(&mut conn, &owner.to_string(), &bodies[..count])
            .map_err(|e| format!("seeding patient {i}: {e}"))?;
        left -= count;
        if (i + 1) % (patients / 10).max(1) == 0 {
            println!(
                "  {} of {records} stored, {:.1} s",
                records - left,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let analysed = match &mut *conn {
        DbConnection::Sqlite(c) => diesel::sql_query("ANALYZE").execute(c),
        DbConnection::Postgresql(c) => diesel::sql_query("ANALYZE").execute(c),
    };
    analysed.map_err(|e| format!("ANALYZE after seeding: {e}"))?;
    Ok(started.elapsed())
}

impl World {
    /// Makes `patients` patients and one therapist per ten of them, in the
    /// database, with access tokens signed by `secret`.
    pub fn create(
        url: &str,
        database: &Database,
        hash: &str,
        secret: &[u8],
        patients: usize,
        run: &str,
    ) -> Result<Self, String> {
        let tokens = AccessTokens::new(secret, ISSUER, AUDIENCE, Duration::from_secs(15 * 60))?;
        let therapist_count = patients.div_ceil(10).max(1);
        let therapist_emails: Vec<String> = (0..therapist_count)
            .map(|i| format!("therapist-{i}-{run}@load.example"))
            .collect();
        let patient_emails: Vec<String> = (0..patients)
            .map(|i| format!("patient-{i}-{run}@load.example"))
            .collect();
        let therapist_ids = insert_accounts(database, hash, Role::Therapist, &therapist_emails)?;
        let patient_ids = insert_accounts(database, hash, Role::Patient, &patient_emails)?;
        let mut world = Self {
            url: url.to_owned(),
            patients: patient_ids
                .into_iter()
                .zip(patient_emails)
                .enumerate()
                .map(|(i, ((id, session), email))| Patient {
                    id,
                    session,
                    email,
                    therapist: i % therapist_count,
                    bearer: String::new(),
                })
                .collect(),
            therapists: therapist_ids
                .into_iter()
                .map(|(id, session)| Therapist {
                    id,
                    session,
                    bearer: String::new(),
                })
                .collect(),
            tokens,
        };
        world.mint()?;
        Ok(world)
    }

    /// Signs a fresh access token for `id` in its `session` (valid 15
    /// minutes).
    pub fn token(&self, id: Uuid, role: Role, session: Uuid) -> Result<String, String> {
        self.tokens
            .issue(AuthUser { id, role, session })
            .map(|t| t.token)
            .map_err(api)
    }

    /// Gives every account a fresh access token (before each phase, so none
    /// expires during one).
    pub fn mint(&mut self) -> Result<(), String> {
        for i in 0..self.patients.len() {
            let token = self.token(self.patients[i].id, Role::Patient, self.patients[i].session)?;
            self.patients[i].bearer = format!("Bearer {token}");
        }
        for i in 0..self.therapists.len() {
            let token = self.token(
                self.therapists[i].id,
                Role::Therapist,
                self.therapists[i].session,
            )?;
            self.therapists[i].bearer = format!("Bearer {token}");
        }
        Ok(())
    }

    /// Over HTTP: each patient accepts an invitation from their therapist,
    /// and their first device pushes a standing share of entries and
    /// check-ins plus `records` entries; then every device pulls until it is
    /// up to date. Returns the devices, `devices` of them spread over the
    /// patients.
    pub fn populate(
        &self,
        devices: usize,
        records: usize,
        threads: usize,
    ) -> Result<Vec<Device>, String> {
        let mut all: Vec<Device> = (0..devices.max(self.patients.len()))
            .map(|i| Device::new(i % self.patients.len().max(1)))
            .collect();
        all.truncate(devices.max(1));
        let threads = threads.clamp(1, 16);
        let chunk = all.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = all
                .chunks_mut(chunk)
                .enumerate()
                .map(|(t, mine)| {
                    scope.spawn(move || -> Result<(), String> {
                        let agent = agent();
                        let mut rng = Lcg(0xface + t as u64);
                        for (j, device) in mine.iter_mut().enumerate() {
                            // Device i belongs to patient i % patients: the
                            // first of each patient links and writes, the
                            // others only pull.
                            if t * chunk + j < self.patients.len() {
                                self.link(&agent, device.patient)?;
                                let therapist =
                                    self.therapists[self.patients[device.patient].therapist].id;
                                let share = Share::kinds(
                                    therapist,
                                    vec![RecordKind::JournalEntry, RecordKind::MoodCheckIn],
                                )
                                .map_err(|e| format!("share: {e}"))?;
                                let mut bodies = vec![RecordBody::Share(share)];
                                bodies.extend(entries(&mut rng, records));
                                push_new(&agent, self, device, &bodies)?;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("setup thread panicked".to_owned()))
                })
                .collect::<Result<Vec<()>, String>>()
        })?;
        // Every device, then, pulls what its patient's devices wrote.
        std::thread::scope(|scope| {
            let handles: Vec<_> = all
                .chunks_mut(chunk)
                .map(|mine| {
                    scope.spawn(move || -> Result<(), String> {
                        let agent = agent();
                        for device in mine.iter_mut() {
                            pull_all(&agent, self, device)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("setup thread panicked".to_owned()))
                })
                .collect::<Result<Vec<()>, String>>()
        })?;
        Ok(all)
    }

    fn link(&self, agent: &ureq::Agent, patient: usize) -> Result<(), String> {
        let therapist = &self.therapists[self.patients[patient].therapist];
        let invitation = agent
            .post(format!("{}/api/v1/care/invitations", self.url))
            .header("Authorization", &therapist.bearer)
            .header("Content-Type", "application/json")
            .send(&b"{}"[..])
            .map_err(|e| format!("invitation: {e}"))?;
        let status = invitation.status().as_u16();
        let text = invitation
            .into_body()
            .read_to_string()
            .map_err(|e| format!("invitation: {e}"))?;
        let body: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("invitation: {e}: {text}"))?;
        let code = body["code"]
            .as_str()
            .filter(|_| status == 201)
            .ok_or_else(|| format!("invitation: HTTP {status}: {body}"))?;
        let link = agent
            .post(format!("{}/api/v1/care/links", self.url))
            .header("Authorization", &self.patients[patient].bearer)
            .header("Content-Type", "application/json")
            .send(serde_json::json!({ "code": code }).to_string().as_bytes())
            .map_err(|e| format!("link: {e}"))?;
        match link.status().as_u16() {
            201 => Ok(()),
            status => Err(format!("link: HTTP {status}")),
        }
    }
}
