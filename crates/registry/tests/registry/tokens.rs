//! Fleet-provisioning ownership tokens are stored as digests: the database never holds one.

use roost_pki::{KeyKind, testing};

use crate::support::Harness;

#[tokio::test]
async fn an_ownership_token_works_but_is_not_stored_in_the_database_files() {
    let h = Harness::new().await;
    let Some(sqlite) = h.url.strip_prefix("sqlite://").map(str::to_owned) else {
        return; // The file check applies to the embedded SQLite registry.
    };
    let ca = testing::ca("Fleet Issuer").unwrap();
    let issued = ca
        .issue_with_new_key(KeyKind::EcP256, "device", testing::validity())
        .unwrap();
    let (certificate, token) = h
        .register_pending_with_token(&issued.certificate_pem, 60_000)
        .await
        .unwrap();
    let found = h
        .ownership_token_certificate(&token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, certificate.id);
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{sqlite}{suffix}")).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&token),
            "the token is in registry.db{suffix}"
        );
    }
    h.consume_ownership_token(&token).await.unwrap();
    assert!(
        h.ownership_token_certificate(&token)
            .await
            .unwrap()
            .is_err()
    );
}
