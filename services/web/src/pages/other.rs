//! Search and polls.

use std::sync::Arc;

use axum::extract::{Path, Query};
use bytes::Bytes;
use http::{Method, StatusCode, Uri};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{PageError, PageResult, checked_form, here, now, redirect};
use crate::api::{Poll, SearchResults, enc};
use crate::pages::posts::valid_id;
use crate::session::Ctx;
use crate::views::{Card, PostControls, csrf_field, empty, post_list, time_ago, user_row};

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn search(ctx: Ctx, uri: Uri, Query(query): Query<SearchQuery>) -> PageResult {
    let here = here(&uri);
    let q = query
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect::<String>();
    let api = &ctx.svc.api;
    let (results, unread) = tokio::join!(
        async {
            if q.is_empty() {
                Ok(None)
            } else {
                api.get::<SearchResults>(
                    &ctx.caller,
                    &format!("/api/v1/search?q={}&limit=20", enc(&q)),
                )
                .await
                .map(Some)
            }
        },
        ctx.unread()
    );
    let results = ctx.ok(results).await?;
    let unread = unread?;
    let controls = PostControls::new(ctx.username(), &ctx.csrf, &here);
    let posts: Vec<Arc<Card>> = results
        .as_ref()
        .map(|r| {
            r.posts
                .iter()
                .cloned()
                .map(|p| Arc::new(Card::new(p)))
                .collect()
        })
        .unwrap_or_default();
    let content = html! {
        h1 { @if q.is_empty() { "Search" } @else { "Search: " (q) } }
        form.card role="search" method="get" action="/search" {
            label for="q" { "Search" }
            input type="search" id="q" name="q" value=(q) maxlength="200";
            div.form-actions { button.primary type="submit" { "Search" } }
        }
        @if let Some(r) = &results {
            @if r.users.is_empty() && r.posts.is_empty() && r.tags.is_empty() {
                (empty("Nothing matches.", html! { p { "Try fewer or other words, or the start of a username." } }))
            }
            @if !r.users.is_empty() {
                h2 { "People" }
                ul.plain { @for u in &r.users { li { (user_row(u)) } } }
            }
            @if !r.tags.is_empty() {
                h2 { "Tags" }
                ul.plain { @for t in &r.tags { li { a href={ "/search?q=%23" (enc(&t.name)) } { "#" (t.name) } " " span.muted { (t.post_count) " posts" } } } }
            }
            @if !r.posts.is_empty() {
                h2 { "Posts" }
                (post_list("results", &posts, None, now(), &controls))
            }
        } @else {
            p.muted { "Find people by username, posts by words and tags by name." }
        }
    };
    let title = if q.is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {q}")
    };
    Ok(ctx.page(&title, &here, unread, content))
}

pub async fn new_poll(ctx: Ctx) -> PageResult {
    ctx.require_login()?;
    let unread = ctx.unread().await?;
    let content = html! {
        h1 { "New poll" }
        form.card method="post" action="/polls" {
            (csrf_field(&ctx.csrf))
            label for="question" { "Question" }
            input type="text" id="question" name="question" required maxlength="300";
            fieldset {
                legend { "Options (at least two)" }
                @for i in 1..=4 {
                    label for={ "option-" (i) } { "Option" }
                    input type="text" id={ "option-" (i) } name="option" maxlength="100" required[i <= 2];
                }
            }
            div.form-actions { button.primary type="submit" { "Create poll" } }
        }
    };
    Ok(ctx.page("New poll", "/polls/new", unread, content))
}

pub async fn create_poll(ctx: Ctx, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let form = checked_form(&ctx, &body)?;
    let options: Vec<&str> = form
        .all("option")
        .into_iter()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    let poll: Poll = ctx
        .ok(ctx
            .svc
            .api
            .send_json(
                &ctx.caller,
                Method::POST,
                "/api/v1/polls",
                Some(json!({"question": form.get("question").unwrap_or(""), "options": options})),
            )
            .await)
        .await?;
    Ok(redirect(&format!("/polls/{}", poll.id)))
}

#[derive(Deserialize, Default)]
pub struct PollQuery {
    already: Option<String>,
}

pub async fn show_poll(ctx: Ctx, Path(id): Path<String>, Query(q): Query<PollQuery>) -> PageResult {
    let id = valid_id(&id)?;
    let path = format!("/api/v1/polls/{id}");
    let (poll, unread) = tokio::join!(ctx.svc.api.get::<Poll>(&ctx.caller, &path), ctx.unread());
    let poll = ctx.ok(poll).await?;
    let unread = unread?;
    let total = poll.total_votes.max(1);
    let content = html! {
        h1 { (poll.question) }
        p.meta { "Poll by " a href={ "/u/" (enc(&poll.author)) } { (poll.author) } " · " (time_ago(&poll.created_at, now())) " · " (poll.total_votes) (if poll.total_votes == 1 { " vote" } else { " votes" }) }
        @if q.already.is_some() { p.notice role="status" { "You have voted in this poll already." } }
        ul.plain {
            @for (i, option) in poll.options.iter().enumerate() {
                li.card {
                    p id={ "opt-" (i) } { strong { (option.text) } " — " (option.votes) (if option.votes == 1 { " vote" } else { " votes" }) }
                    meter min="0" max=(total) value=(option.votes) aria-labelledby={ "opt-" (i) } {}
                    @if ctx.session.is_some() {
                        form.inline method="post" action={ "/polls/" (id) "/vote" } {
                            (csrf_field(&ctx.csrf))
                            input type="hidden" name="choice" value=(i);
                            button type="submit" aria-describedby={ "opt-" (i) } { "Vote" }
                        }
                    }
                }
            }
        }
        @if ctx.session.is_none() { p { "Log in to vote." } }
    };
    Ok(ctx.page(
        &format!("Poll: {}", poll.question),
        &format!("/polls/{id}"),
        unread,
        content,
    ))
}

pub async fn vote_poll(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    let choice: u32 = form
        .get("choice")
        .and_then(|c| c.trim().parse().ok())
        .ok_or_else(|| PageError::BadRequest("Choose one of the options.".into()))?;
    match ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::POST,
            &format!("/api/v1/polls/{id}/votes"),
            Some(json!({"choice": choice})),
        )
        .await
    {
        Ok(_) => Ok(redirect(&format!("/polls/{id}"))),
        Err(f) if f.status == StatusCode::CONFLICT => {
            Ok(redirect(&format!("/polls/{id}?already=1")))
        }
        Err(f) => Err(ctx.failed(f).await),
    }
}
