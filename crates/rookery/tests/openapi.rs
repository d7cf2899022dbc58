//! docs/openapi.json is what the server generates, and it covers every route
//! the gateway serves.

use serde_json::Value;

#[test]
fn committed_document_matches_the_generated_one() {
    let generated: Value =
        serde_json::from_str(&rookery::openapi::document().to_pretty_json().unwrap()).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json exists"))
            .unwrap();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
    );
}

#[test]
fn every_gateway_route_is_documented() {
    let doc = rookery::openapi::document();
    assert!(doc.openapi == utoipa::openapi::OpenApiVersion::Version31);
    for (route, _) in rookery_gateway::ROUTES {
        assert!(
            doc.paths.paths.contains_key(*route),
            "{route} is not in the OpenAPI document"
        );
    }
}
