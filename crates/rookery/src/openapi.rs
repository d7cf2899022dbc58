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
    doc.info = InfoBuilder::new()
        .title("Rookery")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Social platform backend: users, follows, posts, timelines, votes, polls and \
             direct messages. Errors are `{\"error\", \"code\", \"field\"?}`; lists are \
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
    doc
}
