//! The one public OpenAPI document: every service's part, merged.

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Doc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, Server};

pub fn document() -> Doc {
    let mut doc = rookery_users::UsersApi::openapi();
    doc.merge(rookery_posts::PostsApi::openapi());
    doc.merge(rookery_votes::VotesApi::openapi());
    doc.merge(rookery_messages::MessagesApi::openapi());
    doc.merge(rookery_notifications::NotificationsApi::openapi());
    doc.info = InfoBuilder::new()
        .title("Rookery")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Social platform backend: users, follows, posts, timelines, votes, polls and \
             direct messages, notifications. Errors are `{\"error\", \"code\", \"field\"?}`; lists are \
             `{\"items\", \"next_cursor\"}` with a `Link: rel=\"next\"` header.",
        ))
        .build();
    doc.servers = Some(vec![Server::new("/")]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "basic",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    general_rules(doc)
}

/// API.md's general rules, on every operation: credentials may be sent on
/// any request (and wrong ones are a 401 there too), any route may be rate
/// limited (429 with `Retry-After`) or overloaded (503), and any body may be
/// too large (413). Routes without an "auth" mark take credentials optionally.
fn general_rules(doc: Doc) -> Doc {
    let mut value = serde_json::to_value(&doc).expect("the document serializes");
    let error = serde_json::json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let header = |description: &str| serde_json::json!({"required": true, "description": description, "schema": {"type": "string"}});
    value["components"]["responses"] = serde_json::json!({
        "Unauthorized": {
            "description": "Credentials missing where the route needs them, or wrong (on any route)",
            "headers": {"WWW-Authenticate": header("`Basic realm=\"rookery\", Bearer`")},
            "content": error,
        },
        "PayloadTooLarge": {"description": "Body over 1 MiB", "content": error},
        "TooManyRequests": {
            "description": "Rate limited (failed logins, or a configured limit)",
            "headers": {"Retry-After": header("Seconds to wait")},
            "content": error,
        },
        "Unavailable": {
            "description": "Overloaded, or a dependency is down",
            "headers": {"Retry-After": header("Seconds to wait")},
            "content": error,
        },
    });
    let reference =
        |name: &str| serde_json::json!({"$ref": format!("#/components/responses/{name}")});
    let optional_auth = serde_json::json!([{}, {"basic": []}, {"bearer": []}]);
    for item in value["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get_mut(method).and_then(|o| o.as_object_mut()) else {
                continue;
            };
            let has_body = op.contains_key("requestBody");
            op.entry("security")
                .or_insert_with(|| optional_auth.clone());
            let responses = op
                .entry("responses")
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
                .expect("responses is an object");
            let mut add = |status: &str, name: &str| {
                responses.entry(status).or_insert_with(|| reference(name));
            };
            add("401", "Unauthorized");
            if has_body {
                add("413", "PayloadTooLarge");
            }
            add("429", "TooManyRequests");
            add("503", "Unavailable");
        }
    }
    serde_json::from_value(value).expect("the document deserializes")
}
