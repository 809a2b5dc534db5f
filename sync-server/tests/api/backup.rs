//! `sync-server backup` and `restore`: a copy taken while the server runs
//! and ingests holds every record stored before it, the signing key comes
//! with it (so tills need not enroll again), and a server started on the
//! restored copy carries on the registers' chains.

use reqwest::{Method, StatusCode};
use sync_server::backup::{BackupError, backup, restore};
use sync_server::wire::admin::Stats;

use crate::helpers::{Purchase, TestServer, merchant_with_till, on_postgres};

async fn stats(server: &TestServer, merchant: shared::ids::MerchantId) -> Stats {
    server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/stats"),
            None,
        )
        .await
}

#[tokio::test]
async fn a_backup_taken_while_ingesting_restores_into_a_server_that_carries_on() {
    if on_postgres() {
        // The data is in PostgreSQL; pg_dump backs it up (see the README).
        return;
    }
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let first = till.records((0..50).map(|_| Purchase::sale(1_000)));
    assert_eq!(till.upload(&first).await.0, StatusCode::OK);

    // Uploads keep coming while the copy is taken.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("backup");
    let during = till.records((0..20).map(|_| Purchase::sale(5)));
    let (copied, uploaded) = tokio::join!(
        tokio::task::spawn_blocking({
            let (data_dir, target) = (server.data_dir().to_owned(), target.clone());
            move || backup(&data_dir, &target, true, |_, _| {})
        }),
        till.upload(&during),
    );
    let report = copied.unwrap().unwrap();
    assert_eq!(uploaded.0, StatusCode::OK);
    assert!(report.database.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o700, "the backup directory is private");
        assert_eq!(mode(&report.key), 0o600, "the key stays private");
    }
    assert_eq!(
        std::fs::read(&report.key).unwrap(),
        std::fs::read(server.data_dir().join(sync_server::keys::KEY_FILE)).unwrap(),
        "the signing key comes with the data"
    );

    // A backup never overwrites, a restore never overwrites.
    assert!(matches!(
        backup(server.data_dir(), &target, true, |_, _| {}),
        Err(BackupError::TargetNotEmpty(_))
    ));
    assert!(matches!(
        restore(&target, server.data_dir()),
        Err(BackupError::WouldOverwrite(_))
    ));

    // The restored server holds the first 50 and either none or all of the
    // 20 in flight, never a part of a batch.
    let restored_dir = tempfile::tempdir().unwrap();
    restore(&target, restored_dir.path()).unwrap();
    let restored = TestServer::spawn_over(restored_dir).await;
    let got = stats(&restored, merchant.id).await;
    assert!(
        got.totals.checks == 50 || got.totals.checks == 70,
        "a consistent copy: {} checks",
        got.totals.checks
    );

    // The till's chain carries on from what the copy holds: a later batch
    // is refused with the seq the copy expects, and resent from there.
    let later = till.records((0..5).map(|_| Purchase::sale(7)));
    let (status, body) = till.upload_to(&restored, &later).await;
    if got.totals.checks == 70 {
        assert_eq!(status, StatusCode::OK, "{body}");
    } else {
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["expected_seq"], 51);
        let mut resend = during.clone();
        resend.extend(later);
        assert_eq!(till.upload_to(&restored, &resend).await.0, StatusCode::OK);
    }
    let after = stats(&restored, merchant.id).await;
    assert_eq!(after.totals.checks, 75);
    assert_eq!(after.totals.revenue.minor(), 50 * 1_000 + 20 * 5 + 5 * 7);
}
