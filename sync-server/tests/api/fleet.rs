//! The fleet's versions: HQ sets a minimum agent version per merchant
//! (parsed as a semantic version, audited), each register's heartbeat
//! reply says the minimum and whether it is below it, and HQ lists the
//! registers in service below it with their count.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use sync_server::wire::admin::AuditView;
use sync_server::wire::fleet::{FleetView, MinimumAgentVersion};

use crate::helpers::{TestServer, Till, reply};

/// A heartbeat naming `version`; the server's status and reply.
async fn beat(server: &TestServer, till: &Till, version: &str) -> (StatusCode, Value) {
    reply(
        server
            .http
            .post(format!("{}/api/v1/heartbeat", server.base))
            .bearer_auth(till.bearer())
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&json!({
                "agent_version": version,
                "backlog": 0,
                "dead_letters": 0,
                "ruleset_version": null,
                "alarms": []
            }))
            .send()
            .await
            .expect("heartbeat"),
    )
    .await
}

#[tokio::test]
async fn a_minimum_version_is_set_told_to_registers_and_lagging_ones_are_listed() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let moscow = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let kazan = server.store(merchant.id, "Баумана", "Europe/Moscow").await;
    let old = server.enroll(moscow.id, 1).await;
    let new = server.enroll(kazan.id, 2).await;
    let revoked = server.enroll(kazan.id, 3).await;
    let fleet_path = format!("/api/v1/admin/merchants/{}/fleet", merchant.id);
    let minimum_path = format!("{fleet_path}/minimum-version");

    // No minimum: nobody lags, and the heartbeat reply says so.
    let (status, body) = beat(&server, &old, "1.2.9").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"minimum_agent_version": null, "below_minimum": false, "key_seq": 0})
    );
    let fleet: FleetView = server.admin_ok(Method::GET, &fleet_path, None).await;
    assert_eq!((fleet.registers_in_service, fleet.lagging_count), (3, 0));
    assert!(fleet.minimum_agent_version.is_none());

    // Text that is not a semantic version: a 422 that quotes it, nothing set.
    for bad in ["1.3", "v1.3.0", "latest", ""] {
        let (status, body) = server
            .admin(
                Method::PUT,
                &minimum_path,
                Some(json!({"minimum_agent_version": bad})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"], "validation");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("minimum_agent_version: ")
                && message.contains(&format!("{bad:?}"))
                && message.contains("not a version like 1.4.0"),
            "{message}"
        );
    }
    let none: MinimumAgentVersion = server.admin_ok(Method::GET, &minimum_path, None).await;
    assert_eq!(none.minimum_agent_version, None);

    // The owner sets 1.3.0.
    let set: MinimumAgentVersion = server
        .admin_ok(
            Method::PUT,
            &minimum_path,
            Some(json!({"minimum_agent_version": " 1.3.0 "})),
        )
        .await;
    assert_eq!(set.minimum_agent_version.as_deref(), Some("1.3.0"));
    let got: MinimumAgentVersion = server.admin_ok(Method::GET, &minimum_path, None).await;
    assert_eq!(got, set);

    // The old register is told it is below; the new one (a later
    // pre-release counts by precedence) is not.
    let (_, body) = beat(&server, &old, "1.2.9").await;
    assert_eq!(
        body,
        json!({"minimum_agent_version": "1.3.0", "below_minimum": true, "key_seq": 0})
    );
    let (_, body) = beat(&server, &new, "1.4.0-rc.1").await;
    assert_eq!(
        body,
        json!({"minimum_agent_version": "1.3.0", "below_minimum": false, "key_seq": 0})
    );
    let (_, body) = beat(&server, &revoked, "0.1.0").await;
    assert_eq!(body["below_minimum"], true);
    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/registers/{}/revoke", revoked.register_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // HQ: one of the two registers in service lags (the revoked one does
    // not count), with its store, version and last heartbeat.
    let fleet: FleetView = server.admin_ok(Method::GET, &fleet_path, None).await;
    assert_eq!((fleet.registers_in_service, fleet.lagging_count), (2, 1));
    assert_eq!(fleet.minimum_agent_version.unwrap().to_string(), "1.3.0");
    let lagging = &fleet.lagging[0];
    assert_eq!(lagging.register_id, old.register_id);
    assert_eq!(lagging.store_id, moscow.id);
    assert_eq!(lagging.store_name, "Тверская");
    assert_eq!(lagging.agent_version, "1.2.9");
    assert!(lagging.last_heartbeat_at.is_some());

    // The old register updated: it no longer lags.
    let (_, body) = beat(&server, &old, "1.3.0").await;
    assert_eq!(body["below_minimum"], false);
    let fleet: FleetView = server.admin_ok(Method::GET, &fleet_path, None).await;
    assert_eq!(fleet.lagging_count, 0);

    // Cleared with null.
    let cleared: MinimumAgentVersion = server
        .admin_ok(
            Method::PUT,
            &minimum_path,
            Some(json!({"minimum_agent_version": null})),
        )
        .await;
    assert_eq!(cleared.minimum_agent_version, None);
    let (_, body) = beat(&server, &old, "0.0.1").await;
    assert_eq!(
        body,
        json!({"minimum_agent_version": null, "below_minimum": false, "key_seq": 0})
    );

    // Each change is in the audit trail with before and after; the refused
    // ones are not.
    let trail: Vec<AuditView> = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/audit?action=fleet.minimum_version",
                merchant.id
            ),
            None,
        )
        .await;
    let mut changes: Vec<(&str, &str, &str)> = trail
        .iter()
        .map(|e| (e.subject.as_str(), e.before.as_str(), e.after.as_str()))
        .collect();
    changes.sort_unstable();
    assert_eq!(
        changes,
        vec![
            ("minimum agent version", "1.3.0", "none"),
            ("minimum agent version", "none", "1.3.0"),
        ],
        "{trail:?}"
    );
}

#[tokio::test]
async fn another_merchants_minimum_does_not_reach_a_register_and_unknown_merchants_are_404() {
    let server = TestServer::spawn().await;
    let (_, _, till) = crate::helpers::merchant_with_till(&server, 7).await;
    let other = server.merchant("Другой").await;
    let _: MinimumAgentVersion = server
        .admin_ok(
            Method::PUT,
            &format!("/api/v1/admin/merchants/{}/fleet/minimum-version", other.id),
            Some(json!({"minimum_agent_version": "99.0.0"})),
        )
        .await;
    let (_, body) = beat(&server, &till, "1.0.0").await;
    assert_eq!(body["below_minimum"], false);
    assert_eq!(body["minimum_agent_version"], Value::Null);
    let (status, body) = server
        .admin(
            Method::PUT,
            "/api/v1/admin/merchants/999999/fleet/minimum-version",
            Some(json!({"minimum_agent_version": "1.0.0"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = server
        .admin(Method::GET, "/api/v1/admin/merchants/999999/fleet", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
