//! The server's key chain (`GET /api/v1/keys`, issue 10 §5): served to
//! registers only, followed by them after a rotation (recovery key or
//! planned), named in heartbeat and enrollment replies; a lost key file
//! stops the start instead of making a key no till trusts.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::crypto::PublicKey;
use shared::keys::{ChainSeq, KeyChain, KeyChange, SignedBy, TrustedKeys};
use shared::release::SignedRuleset;
use shared::token::{CustomerToken, TokenError};
use shared::wire::sync::{EnrollResponse, HeartbeatReply};
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use sync_server::db::Repository;
use sync_server::keys::{self, KEY_FILE, KeyError};
use sync_server::wire::admin::IssuedToken;

use crate::helpers::{TestServer, Till, merchant_with_till, reply, ruleset, settings};

async fn chain_of(till: &Till) -> KeyChain {
    let response = till.get("/api/v1/keys").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("a key chain")
}

async fn repository(server: &TestServer) -> Arc<dyn Repository> {
    sync_server::open_repository(&settings(server.data_dir()))
        .await
        .expect("the server's database")
}

async fn heartbeat_seq(server: &TestServer, till: &Till) -> ChainSeq {
    let (status, body) = reply(
        server
            .http
            .post(format!("{}/api/v1/heartbeat", server.base))
            .bearer_auth(till.bearer())
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(
                &json!({"agent_version": "0.1.0", "backlog": 0, "dead_letters": 0,
                          "ruleset_version": null, "alarms": []}),
            )
            .send()
            .await
            .expect("heartbeat"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value::<HeartbeatReply>(body)
        .expect("a heartbeat reply")
        .key_seq
}

async fn token_for(server: &TestServer, merchant: shared::ids::MerchantId) -> String {
    let anna = server
        .customer(merchant, json!({"name": "Анна", "phone": "+79161234567"}))
        .await;
    let issued: IssuedToken = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/token", anna.id),
            None,
        )
        .await;
    issued.token
}

#[tokio::test]
async fn a_rotation_by_the_recovery_key_is_served_and_tills_follow_it() {
    let server = TestServer::spawn().await;
    let (merchant, store, till) = merchant_with_till(&server, 1).await;

    // Registers only.
    let anonymous = server
        .http
        .get(format!("{}/api/v1/keys", server.base))
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let before = chain_of(&till).await;
    assert_eq!(before.current, till.server_key);
    assert_eq!(before.recovery_key, None);
    assert!(before.endorsements.is_empty());
    assert_eq!(heartbeat_seq(&server, &till).await, ChainSeq(0));

    // The operator makes the recovery key; registers learn it.
    let offline = tempfile::tempdir().expect("tempdir");
    let recovery_file = offline.path().join("recovery.pk8");
    let db = repository(&server).await;
    let recovery = keys::recovery_init(server.data_dir(), &db, &recovery_file, chrono::Utc::now())
        .await
        .expect("recovery-init");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&recovery_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(matches!(
        keys::recovery_init(
            server.data_dir(),
            &db,
            &offline.path().join("again.pk8"),
            chrono::Utc::now()
        )
        .await,
        Err(KeyError::RecoveryExists { .. })
    ));

    // The signing key is lost; the recovery key endorses a new one.
    std::fs::remove_file(server.data_dir().join(KEY_FILE)).expect("lose the key");
    assert!(matches!(
        keys::rotate(server.data_dir(), &db, None, true, chrono::Utc::now()).await,
        Err(KeyError::Missing { .. })
    ));
    let rotation = keys::rotate(
        server.data_dir(),
        &db,
        Some(&recovery_file),
        true,
        chrono::Utc::now(),
    )
    .await
    .expect("rotate");
    assert_eq!(rotation.endorsement.signed_by, SignedBy::Recovery);
    assert_eq!(rotation.old_key, till.server_key);
    drop(db);
    let server = server.restart().await;

    let chain = chain_of(&till).await;
    assert_eq!(chain.current, rotation.new_key);
    assert_eq!(chain.recovery_key, Some(recovery));
    assert_eq!(chain.seq(), ChainSeq(2));
    assert!(matches!(
        chain.endorsements[0].change,
        KeyChange::Recovery { recovery_key, by } if recovery_key == recovery && by == till.server_key
    ));
    assert_eq!(heartbeat_seq(&server, &till).await, ChainSeq(2));

    // A till enrolled before the recovery key verifies the whole chain from
    // the key it pinned.
    let pinned = TrustedKeys::pinned(till.server_key, None, ChainSeq(0));
    let followed = pinned.update(&chain.endorsements).expect("a good chain");
    assert_eq!(followed.valid(), vec![rotation.new_key]);

    // What the server signs now verifies with the new key only.
    let token = token_for(&server, merchant.id).await;
    let now = chrono::Utc::now();
    assert!(CustomerToken::verify_with(&token, &followed, merchant.id, now).is_ok());
    // (Key ids are one byte: one rotation in 256 gives the new key the old
    // one's id, and the old key then finds a signature that is not its.)
    assert!(matches!(
        CustomerToken::verify(&token, &till.server_key, merchant.id, now),
        Err(TokenError::UnknownKey(_) | TokenError::BadSignature)
    ));
    let (status, body) = server.publish(merchant.id, ruleset()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let release: SignedRuleset = till
        .get("/api/v1/ruleset?after=0")
        .await
        .json()
        .await
        .expect("a release");
    assert!(release.open(&rotation.new_key, "0.1.0").is_ok());
    assert!(release.open(&till.server_key, "0.1.0").is_err());

    // A register enrolled now pins the new key, the recovery key and the
    // chain's position.
    let token = server.enrollment_token(store.id).await;
    let (status, body) = server
        .enroll_with(
            &token.token,
            &shared::crypto::SigningKey::from_seed(&[7; 32]).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let enrolled: EnrollResponse = serde_json::from_value(body).expect("enroll reply");
    assert_eq!(enrolled.server_public_key, rotation.new_key);
    assert_eq!(enrolled.server_recovery_key, Some(recovery));
    assert_eq!(enrolled.key_seq, ChainSeq(2));
}

#[tokio::test]
async fn a_planned_rotation_is_endorsed_by_the_old_key_which_stays_valid() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;
    let (status, body) = server.publish(merchant.id, ruleset()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let db = repository(&server).await;
    let rotation = keys::rotate(server.data_dir(), &db, None, false, chrono::Utc::now())
        .await
        .expect("rotate");
    assert_eq!(rotation.endorsement.signed_by, SignedBy::SigningKey);
    let retired = rotation
        .retired_file
        .clone()
        .expect("the old file is kept aside");
    assert!(retired.is_file());
    drop(db);
    let server = server.restart().await;

    let chain = chain_of(&till).await;
    assert_eq!(chain.current, rotation.new_key);
    let followed = TrustedKeys::pinned(till.server_key, None, ChainSeq(0))
        .update(&chain.endorsements)
        .expect("a good chain");
    assert_eq!(followed.valid(), vec![till.server_key, rotation.new_key]);
    // The release published before is served signed by the new key, so a
    // register enrolled after the rotation (which knows only that key)
    // takes it too.
    for path in ["/api/v1/ruleset?after=0", "/api/v1/ruleset?after=0&wait=0"] {
        let release: SignedRuleset = till.get(path).await.json().await.expect("a release");
        assert!(release.open(&rotation.new_key, "0.1.0").is_ok(), "{path}");
    }
    let token = token_for(&server, merchant.id).await;
    assert!(CustomerToken::verify_with(&token, &followed, merchant.id, chrono::Utc::now()).is_ok());
}

#[tokio::test]
async fn a_lost_key_file_stops_the_start_once_registers_pinned_it() {
    let server = TestServer::spawn().await;
    let db = repository(&server).await;
    let dir = server.data_dir().to_owned();
    let first: PublicKey = keys::chain(&db).await.expect("the chain").current;

    // Even before a register enrolled, the chain holds the first key: a
    // lost key file is refused, not silently replaced.
    std::fs::rename(dir.join(KEY_FILE), dir.join("aside.pk8")).unwrap();
    let refused = keys::open(&dir, &db, chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(refused, KeyError::Missing { .. }), "{refused}");
    std::fs::rename(dir.join("aside.pk8"), dir.join(KEY_FILE)).unwrap();
    assert_eq!(
        keys::open(&dir, &db, chrono::Utc::now())
            .await
            .expect("the key is back")
            .signing
            .public_key(),
        first
    );

    let (_, _, _till) = merchant_with_till(&server, 1).await;
    std::fs::remove_file(dir.join(KEY_FILE)).unwrap();
    let refused = keys::open(&dir, &db, chrono::Utc::now()).await.unwrap_err();
    let message = refused.to_string();
    assert!(matches!(refused, KeyError::Missing { .. }), "{message}");
    assert!(message.contains("restore"), "{message}");
    assert!(message.contains("keys rotate --recovery-key"), "{message}");
    assert!(
        !dir.join(KEY_FILE).exists(),
        "no key no till trusts was made"
    );

    // A key from elsewhere (an old backup after a rotation) is refused too.
    let other = shared::crypto::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    std::fs::write(dir.join(KEY_FILE), other).unwrap();
    let refused = keys::open(&dir, &db, chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(refused, KeyError::NotCurrent { .. }), "{refused}");
    drop(server);
}

#[tokio::test]
async fn a_fresh_install_makes_its_first_key_and_starts_its_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sync_server::open_repository(&settings(dir.path()))
        .await
        .expect("db");
    let keyring = keys::open(dir.path(), &db, chrono::Utc::now())
        .await
        .expect("a fresh install");
    assert!(dir.path().join(KEY_FILE).is_file());
    assert_eq!(keyring.chain.current, keyring.signing.public_key());
    assert_eq!(
        keys::chain(&db).await.expect("stored").current,
        keyring.signing.public_key()
    );
}
