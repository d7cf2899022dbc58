//! Community pages: posts by hot, new, top or controversial, and the submit form.

use axum::extract::{Path, Query};
use bytes::Bytes;
use http::{Method, Uri};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{
    PAGE_SIZE, PageError, PageResult, checked_form, cursor_param, fragment_response, here, now,
    redirect,
};
use crate::api::{Post, enc};
use crate::session::Ctx;
use crate::views::{PostControls, csrf_field, empty, post_list};

pub fn valid_community(name: &str) -> Result<&str, PageError> {
    if !name.is_empty()
        && name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(name)
    } else {
        Err(PageError::NotFound)
    }
}

const SORTS: [(&str, &str); 4] = [
    ("hot", "Hot"),
    ("new", "New"),
    ("top", "Top"),
    ("controversial", "Controversial"),
];

#[derive(Deserialize, Default)]
pub struct CommunityQuery {
    sort: Option<String>,
    cursor: Option<String>,
}

pub async fn show(
    ctx: Ctx,
    Path(name): Path<String>,
    uri: Uri,
    Query(q): Query<CommunityQuery>,
) -> PageResult {
    let name = valid_community(&name)?.to_string();
    let sort = SORTS
        .iter()
        .map(|(s, _)| *s)
        .find(|s| Some(*s) == q.sort.as_deref())
        .unwrap_or("hot");
    let here = here(&uri);
    let path = format!(
        "/api/v1/communities/{name}/posts?sort={sort}&limit={PAGE_SIZE}{}",
        cursor_param(&q.cursor)
    );
    let (page, unread) = tokio::join!(ctx.post_page(&path), ctx.unread());
    let page = ctx.ok(page).await?;
    let unread = unread?;
    let controls = PostControls::new(ctx.username(), &ctx.csrf, &here);
    let more = page
        .next_cursor
        .as_ref()
        .map(|c| format!("/c/{name}?sort={sort}&cursor={}", enc(c)));
    let list = post_list("feed", &page.cards, more, now(), &controls);
    if ctx.fragment {
        return Ok(fragment_response(list));
    }
    let content = html! {
        h1 { "c/" (name) }
        nav.tabs aria-label="Sort posts" {
            @for (key, label) in SORTS {
                a href={ "/c/" (name) "?sort=" (key) } aria-current=[(key == sort).then_some("page")] { (label) }
            }
        }
        @if page.cards.is_empty() {
            (empty(&format!("Nobody has posted in c/{name} yet."), html! {
                @if ctx.session.is_some() { p { "Start it with the form below." } }
                @else { p { "Log in to submit the first post." } }
            }))
        } @else {
            (list)
        }
        @if ctx.session.is_some() {
            h2 { "Submit a post to c/" (name) }
            form.card method="post" action={ "/c/" (name) } {
                (csrf_field(&ctx.csrf))
                label for="title" { "Title" }
                input type="text" id="title" name="title" maxlength="300" required;
                label for="link" { "Link" }
                input type="url" id="link" name="url" placeholder="https://" aria-describedby="link-hint";
                p.muted id="link-hint" { "Optional." }
                label for="text" { "Text" }
                textarea id="text" name="text" maxlength="40000" aria-describedby="text-hint" {}
                p.muted id="text-hint" { "Optional." }
                div.form-actions { button.primary type="submit" { "Submit" } }
            }
        }
    };
    Ok(ctx.page(&format!("c/{name}"), &here, unread, content))
}

pub async fn submit(ctx: Ctx, Path(name): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let name = valid_community(&name)?.to_string();
    let form = checked_form(&ctx, &body)?;
    let mut post = json!({"title": form.get("title").unwrap_or(""), "community": name});
    if let Some(url) = form.text("url") {
        post["url"] = json!(url);
    }
    if let Some(text) = form.text("text") {
        post["text"] = json!(text);
    }
    let created: Post = ctx
        .ok(ctx
            .svc
            .api
            .send_json(&ctx.caller, Method::POST, "/api/v1/posts", Some(post))
            .await)
        .await?;
    Ok(redirect(&format!("/p/{}", created.id)))
}
