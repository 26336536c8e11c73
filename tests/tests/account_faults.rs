//! The library's account and care calls through a bad network, on both
//! backends: a request lost on the way changes nothing; an answer lost on
//! the way leaves the change made, and trying again lands on it rather than
//! failing — the account exists (sign in), the invitation's link is
//! answered again, a sign-out is complete.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use journal_core::store::JournalStore;
use journal_core::sync::{InMemorySecrets, SyncClient, SyncError};
use journal_e2e::{Fault, FaultyTransport, on_both_backends};

const PASSWORD: &str = "a long passphrase";

on_both_backends! {
    fn account_calls_land_once_whatever_the_network_drops(server: LiveServer) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(JournalStore::open(dir.path().join("journal.db")).unwrap());
        let network = Arc::new(FaultyTransport::new(&server.url()));
        let client = SyncClient::new(store, Arc::clone(&network) as _, Arc::new(InMemorySecrets::new()));
        let email = "faults@example.org";

        // Lost on the way: no account.
        network.script([Fault::DropRequest]);
        assert!(matches!(client.register(email, PASSWORD, None), Err(SyncError::Network(_))));
        assert!(!client.is_signed_in());
        // Made, but the answer lost: registering again says the account
        // exists, and signing in works.
        network.script([Fault::DropResponse]);
        assert!(matches!(client.register(email, PASSWORD, None), Err(SyncError::Network(_))));
        assert!(matches!(client.register(email, PASSWORD, None),
            Err(SyncError::Rejected { status: 409, .. })));
        client.sign_in(email, PASSWORD).unwrap();

        // A therapist's code, accepted with the answer lost: entering it
        // again answers the same link.
        server.create_therapist("faults.lee@clinic.example", PASSWORD, "Dr. Lee");
        let therapist = server.token("faults.lee@clinic.example", PASSWORD);
        let (status, invitation) = server.call("POST", "/api/v1/care/invitations", &therapist, Some(serde_json::json!({})));
        assert_eq!(status, 201);
        let code = invitation["code"].as_str().unwrap();
        network.script([Fault::DropResponse]);
        assert!(matches!(client.accept_invitation(code), Err(SyncError::Network(_))));
        let link = client.accept_invitation(code).unwrap();
        assert_eq!(client.care_links().unwrap(), vec![link.clone()]);
        // A duplicated request makes one link.
        network.script([Fault::Duplicate]);
        assert_eq!(client.care_links().unwrap().len(), 1);

        // A name change sent twice is one change.
        network.script([Fault::Duplicate]);
        assert_eq!(client.set_display_name(Some("Fa")).unwrap().display_name.as_deref(), Some("Fa"));

        // Signing out with the answer lost: forgotten here all the same.
        network.script([Fault::DropResponse]);
        assert!(!client.end_session().unwrap(), "not confirmed: the answer was lost");
        assert!(!client.is_signed_in());
        assert!(matches!(client.account(), Err(SyncError::NotSignedIn)));
        client.sign_in(email, PASSWORD).unwrap();
        assert!(client.end_session().unwrap());
    }
}
