//! The OpenAPI document at `GET /api/v1/openapi.json`: public, valid
//! OpenAPI 3.1, and in step with the real router: every API route
//! (`/api/…`, `/health`, `/metrics`) is documented with its method and
//! path, and every documented operation is routed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use sync_server::AppState;
use sync_server::clock::SystemClock;

use crate::helpers::{TestServer, settings};

/// `(METHOD, path)` pairs.
type Routes = BTreeSet<(String, String)>;

/// Every `(method, path)` a router routes, read from its `Debug` form
/// (axum lists a router's routes nowhere else): the path table
/// (`RouteId(n): "/path"`) joined with the method routers
/// (`RouteId(n): MethodRouter(MethodRouter { get: …, head: None, … })`).
/// The fallback router's own table is left out. An endpoint that is a
/// whole service, not a method router, counts as method `ANY`.
fn routes_of(router_debug: &str) -> Routes {
    let main = router_debug
        .split("fallback_router:")
        .next()
        .expect("a router's Debug form");
    let mut paths = BTreeMap::new();
    let mut methods: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for chunk in main.split("RouteId(").skip(1) {
        let (id, rest) = chunk.split_once("): ").expect("RouteId(n): …");
        let id: u32 = id.parse().expect("a route id");
        if let Some(path) = rest.strip_prefix('"') {
            let path = path.split('"').next().expect("a quoted path");
            paths.insert(id, path.to_owned());
        } else if let Some(fields) = rest.strip_prefix("MethodRouter(MethodRouter { ") {
            let fields = fields.split(", fallback:").next().expect("method fields");
            let routed = fields
                .split(", ")
                .filter_map(|field| field.split_once(": "))
                .filter(|(_, endpoint)| *endpoint != "None")
                .map(|(method, _)| method.to_uppercase())
                .collect();
            methods.insert(id, routed);
        } else {
            methods.insert(id, vec!["ANY".to_owned()]);
        }
    }
    assert!(
        !paths.is_empty() && paths.len() == methods.len(),
        "the router's Debug form changed: {} paths, {} endpoints",
        paths.len(),
        methods.len()
    );
    paths
        .into_iter()
        .flat_map(|(id, path)| {
            methods[&id]
                .iter()
                .map(move |method| (method.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every `$ref` in `value`.
fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_and_names_every_api_route_of_the_router() {
    let server = TestServer::spawn().await;
    // Public: no credentials.
    let response = server
        .http
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let text = response.text().await.unwrap();

    // Valid OpenAPI 3.1: parsed, every operation's parameters, body and
    // responses resolve, and every reference names a schema it defines.
    let spec = oas3::from_json(&text).expect("the document parses as OpenAPI 3.1");
    let version = spec.validate_version().expect("an OpenAPI 3.1 version");
    assert_eq!((version.major, version.minor), (3, 1));
    let mut documented = Routes::new();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, method, operation) in spec.operations() {
        let id = operation.operation_id.clone().unwrap_or_default();
        assert!(
            operation_ids.insert(id.clone()),
            "{method} {path}: operation id {id:?} is not unique"
        );
        operation
            .parameters(&spec)
            .unwrap_or_else(|e| panic!("{method} {path}: parameters: {e}"));
        operation
            .request_body(&spec)
            .unwrap_or_else(|e| panic!("{method} {path}: request body: {e}"));
        let responses = operation.responses(&spec);
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{method} {path} documents no success"
        );
        documented.insert((method.to_string(), path));
    }
    let json: Value = serde_json::from_str(&text).unwrap();
    let mut targets = BTreeSet::new();
    refs(&json, &mut targets);
    let schemas = json["components"]["schemas"].as_object().expect("schemas");
    for target in &targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("an unexpected reference {target}"));
        assert!(schemas.contains_key(name), "{target} is not defined");
    }
    assert!(
        targets.contains("#/components/schemas/Ruleset")
            && targets.contains("#/components/schemas/SignedRecord")
            && targets.contains("#/components/schemas/ErrorBody"),
        "the DTOs are described, not left as free-form objects"
    );
    let schemes = json["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for scheme in ["admin_token", "api_key", "register", "metrics_token"] {
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
    assert_eq!(
        serde_json::to_value(sync_server::openapi()).unwrap(),
        json,
        "the served document is the generated one"
    );

    // The real router, as `serve` builds it.
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(settings(dir.path()), Arc::new(SystemClock))
        .await
        .unwrap();
    let routed = routes_of(&format!("{:?}", sync_server::router(state)));
    assert!(
        routed.iter().any(|(_, path)| path.starts_with("/hq")),
        "the walk sees the pages too: {routed:?}"
    );
    let api: Routes = routed
        .into_iter()
        .filter(|(_, path)| path.starts_with("/api/") || path == "/health" || path == "/metrics")
        .collect();
    let undocumented: Vec<_> = api.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&api).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "routes missing from the document: {undocumented:?}; documented but not routed: {stale:?}"
    );
    assert!(api.len() > 40, "{} API routes", api.len());
}

#[test]
fn the_route_walk_reads_methods_and_paths() {
    let debug = r#"Router { path_router: PathRouter { routes: {RouteId(1): MethodRouter(MethodRouter { get: BoxedHandler, head: None, delete: None, options: None, patch: None, post: Route, put: None, trace: None, connect: None, fallback: Fallback, allow_header: Bytes(b"GET,HEAD,POST") }), RouteId(2): Route(Route)}, node: Node { paths: {RouteId(2): "/static/{*rest}", RouteId(1): "/a/{id}"} } }, fallback_router: PathRouter { routes: {RouteId(1): MethodRouter(MethodRouter { get: None }) }, node: Node { paths: {RouteId(1): "/x"} } } }"#;
    let routes = routes_of(debug);
    let expected: Routes = [
        ("GET", "/a/{id}"),
        ("POST", "/a/{id}"),
        ("ANY", "/static/{*rest}"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(routes, expected);
}
