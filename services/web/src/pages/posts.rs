//! Timelines, single posts and what can be done to a post.

use axum::extract::{Path, Query};
use bytes::Bytes;
use http::{Method, StatusCode, Uri};
use maud::{Markup, html};
use serde_json::json;

use super::{
    ListQuery, PAGE_SIZE, PageError, PageResult, checked_form, cursor_param, fragment_response,
    here, now,
};
use crate::api::{Post, Tally};
use crate::session::Ctx;
use crate::views::{PostControls, csrf_field, empty, next_field, post_card, post_list, votes_box};

/// Post ids are decimal digits; anything else is no post at all.
pub fn valid_id(id: &str) -> Result<&str, PageError> {
    if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(PageError::NotFound)
    }
}

fn more_href(base: &str, next: Option<&str>) -> Option<String> {
    let sep = if base.contains('?') { '&' } else { '?' };
    next.map(|c| format!("{base}{sep}cursor={}", crate::api::enc(c)))
}

pub fn compose_form(ctx: &Ctx) -> Markup {
    html! {
        form.card method="post" action="/posts" {
            (csrf_field(&ctx.csrf)) (next_field("/"))
            label for="compose" { "What's happening?" }
            textarea id="compose" name="text" maxlength="500" required {}
            div.form-actions { button.primary type="submit" { "Post" } }
        }
    }
}

pub async fn home(ctx: Ctx, uri: Uri, Query(q): Query<ListQuery>) -> PageResult {
    let here = here(&uri);
    let path = if ctx.session.is_some() {
        format!(
            "/api/v1/timelines/home?limit={PAGE_SIZE}{}",
            cursor_param(&q.cursor)
        )
    } else {
        format!(
            "/api/v1/timelines/public?limit={PAGE_SIZE}{}",
            cursor_param(&q.cursor)
        )
    };
    let (page, unread) = tokio::join!(ctx.post_page(&path), ctx.unread());
    let page = ctx.ok(page).await?;
    let unread = unread?;
    let controls = PostControls::new(ctx.username(), &ctx.csrf, &here);
    let list = post_list(
        "feed",
        &page.cards,
        more_href("/", page.next_cursor.as_deref()),
        now(),
        &controls,
    );
    if ctx.fragment {
        return Ok(fragment_response(list));
    }
    let logged_in = ctx.session.is_some();
    let content = html! {
        @if logged_in {
            h1 { "Home" }
            (compose_form(&ctx))
            h2 { "Your timeline" }
        } @else {
            h1 { "What people are saying" }
            p.notice { "Rookery is an open social platform. Sign up to post, follow people and vote." }
        }
        @if page.cards.is_empty() {
            @if logged_in {
                (empty("Your timeline is empty.", html! {
                    p { "Write your first post above, or " a href="/search" { "find people to follow" } "." }
                }))
            } @else {
                (empty("Nobody has posted yet.", html! { p { "Sign up (at the top of the page) and write the first post." } }))
            }
        } @else {
            (list)
        }
    };
    let title = if logged_in { "Home" } else { "Public timeline" };
    Ok(ctx.page(title, &here, unread, content))
}

pub async fn create(ctx: Ctx, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let form = checked_form(&ctx, &body)?;
    let text = form.get("text").unwrap_or("");
    ctx.ok(ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::POST,
            "/api/v1/posts",
            Some(json!({"text": text})),
        )
        .await)
        .await?;
    Ok(super::redirect(&form.next("/")))
}

pub async fn show(
    ctx: Ctx,
    Path(id): Path<String>,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let id = valid_id(&id)?;
    let here = here(&uri);
    let api = &ctx.svc.api;
    let post_path = format!("/api/v1/posts/{id}");
    let replies_path = format!(
        "/api/v1/posts/{id}/replies?limit=50{}",
        cursor_param(&q.cursor)
    );
    let votes_path = format!("/api/v1/posts/{id}/votes");
    let logged_in = ctx.session.is_some();
    let (post, replies, tally, unread) = tokio::join!(
        api.get::<Post>(&ctx.caller, &post_path),
        ctx.post_page(&replies_path),
        async {
            if logged_in {
                api.get::<Tally>(&ctx.caller, &votes_path).await.ok()
            } else {
                None
            }
        },
        ctx.unread(),
    );
    let post = ctx.ok(post).await?;
    let replies = ctx.ok(replies).await?;
    let unread = unread?;
    let mut controls = PostControls::new(ctx.username(), &ctx.csrf, &here);
    controls.my_vote = tally.as_ref().map(|t| t.my_vote.as_deref());
    let now = now();
    let more = more_href(&format!("/p/{id}"), replies.next_cursor.as_deref());
    if ctx.fragment {
        controls.my_vote = None;
        return Ok(fragment_response(post_list(
            "replies",
            &replies.cards,
            more,
            now,
            &controls,
        )));
    }
    let mut shown = post.clone();
    if let Some(t) = &tally {
        shown.score = t.score;
    }
    let title = post
        .title
        .clone()
        .unwrap_or_else(|| format!("Post by {}", post.author));
    let card = post_card(&shown, now, &controls);
    controls.my_vote = None;
    let content = html! {
        h1 { (title) }
        @if let Some(parent) = &post.in_reply_to {
            p { a href={ "/p/" (parent) } { "In reply to an earlier post" } }
        }
        (card)
        h2 { "Replies" }
        @if replies.cards.is_empty() {
            (empty("No replies yet.", html! { @if logged_in { p { "Be the first to reply below." } } }))
        } @else {
            (post_list("replies", &replies.cards, more, now, &controls))
        }
        @if logged_in {
            form.card method="post" action={ "/p/" (id) "/reply" } {
                (csrf_field(&ctx.csrf))
                label for="reply" { "Reply" }
                textarea id="reply" name="text" maxlength="500" required {}
                div.form-actions { button.primary type="submit" { "Reply" } }
            }
        } @else {
            p { "Log in to reply or vote." }
        }
    };
    Ok(ctx.page(&title, &here, unread, content))
}

/// A post's form sent without one of its buttons (each names its own
/// action): nothing to do but go back.
pub async fn back_to_post(Path(id): Path<String>) -> PageResult {
    let id = valid_id(&id)?;
    Ok(super::redirect(&format!("/p/{id}")))
}

pub async fn reply(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    let text = form.get("text").unwrap_or("");
    ctx.ok(ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::POST,
            &format!("/api/v1/posts/{id}/replies"),
            Some(json!({"text": text})),
        )
        .await)
        .await?;
    Ok(super::redirect(&format!("/p/{id}")))
}

async fn vote(ctx: Ctx, id: String, body: Bytes, direction: &'static str) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    let next = form.next(&format!("/p/{id}"));
    let api = &ctx.svc.api;
    // A pressed button (the vote one has, shown on the post's page) takes
    // the vote back; elsewhere a button always votes.
    let tally = if form.get("undo").is_some() {
        api.send_json::<Tally>(
            &ctx.caller,
            Method::DELETE,
            &format!("/api/v1/posts/{id}/vote"),
            None,
        )
        .await
    } else {
        api.send_json::<Tally>(
            &ctx.caller,
            Method::PUT,
            &format!("/api/v1/posts/{id}/vote"),
            Some(json!({"direction": direction})),
        )
        .await
    };
    let tally = ctx.ok(tally).await?;
    Ok(ctx.done(&next, || {
        votes_box(
            &id,
            tally.score,
            &PostControls {
                my_vote: Some(tally.my_vote.as_deref()),
                ..PostControls::new(ctx.username(), &ctx.csrf, &next)
            },
        )
    }))
}

pub async fn upvote(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    vote(ctx, id, body, "up").await
}

pub async fn downvote(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    vote(ctx, id, body, "down").await
}

pub async fn repost(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    match ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::POST,
            &format!("/api/v1/posts/{id}/repost"),
            None,
        )
        .await
    {
        Ok(_) => {}
        // Reposting twice is no error for a person: it is reposted.
        Err(f) if f.status == StatusCode::CONFLICT => {}
        Err(f) => return Err(ctx.failed(f).await),
    }
    Ok(super::redirect(&form.next(&format!("/p/{id}"))))
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    ctx.ok(ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::DELETE,
            &format!("/api/v1/posts/{id}"),
            None,
        )
        .await)
        .await?;
    let next = form.next("/");
    let next = if next.starts_with(&format!("/p/{id}")) {
        "/".to_string()
    } else {
        next
    };
    Ok(super::redirect(&next))
}

pub async fn edit_page(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let session = ctx.require_login()?;
    let id = valid_id(&id)?;
    let path = format!("/api/v1/posts/{id}");
    let (post, unread) = tokio::join!(ctx.svc.api.get::<Post>(&ctx.caller, &path), ctx.unread());
    let post = ctx.ok(post).await?;
    if !post.author.eq_ignore_ascii_case(&session.username) {
        return Err(PageError::Forbidden(
            "Only the author can edit a post.".into(),
        ));
    }
    let content = html! {
        h1 { "Edit post" }
        form.card method="post" action={ "/p/" (id) "/edit" } {
            (csrf_field(&ctx.csrf))
            @if post.title.is_some() {
                label for="title" { "Title" }
                input type="text" id="title" name="title" maxlength="300" required value=(post.title.as_deref().unwrap_or(""));
                label for="link" { "Link" }
                input type="url" id="link" name="url" value=(post.url.as_deref().unwrap_or(""));
                label for="text" { "Text" }
                textarea id="text" name="text" maxlength="40000" { (post.text.as_deref().unwrap_or("")) }
            } @else {
                label for="text" { "Text" }
                textarea id="text" name="text" maxlength="500" required { (post.text.as_deref().unwrap_or("")) }
            }
            div.form-actions {
                button.primary type="submit" { "Save" }
                a href={ "/p/" (id) } { "Cancel" }
            }
        }
    };
    Ok(ctx.page("Edit post", &format!("/p/{id}/edit"), unread?, content))
}

pub async fn edit(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    let mut patch = serde_json::Map::new();
    for field in ["text", "title", "url"] {
        if let Some(v) = form.get(field) {
            // An emptied link or text is taken away, not set to "".
            let v = v.trim();
            patch.insert(
                field.into(),
                if v.is_empty() { json!(null) } else { json!(v) },
            );
        }
    }
    ctx.ok(ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::PATCH,
            &format!("/api/v1/posts/{id}"),
            Some(serde_json::Value::Object(patch)),
        )
        .await)
        .await?;
    Ok(super::redirect(&format!("/p/{id}")))
}
