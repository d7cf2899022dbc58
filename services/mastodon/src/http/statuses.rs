//! Statuses: posting (with replies, polls and direct statuses), reading,
//! editing, deleting, threads, reblogs and favourites; polls.

use std::collections::HashSet;

use axum::extract::Path;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rookery_gateway::client::enc;
use serde_json::json;

use super::{JsonResult, RawBody, json};
use crate::ctx::Ctx;
use crate::entities::{Account, Poll, Status};
use crate::error::{MastoError, MastoResult};
use crate::native::{self, Message, Page, Post};
use crate::render::{links, new_status, status as render_status, statuses as render_statuses};

fn status_id(raw: &str) -> MastoResult<i64> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| MastoError::not_found())
}

async fn post(ctx: &Ctx, id: i64) -> MastoResult<Post> {
    ctx.svc
        .api
        .get(&ctx.anonymous(), &format!("/api/v1/posts/{id}"))
        .await
        .map_err(Into::into)
}

/// Usernames mentioned in `text` (`@name`, not inside words or e-mail
/// addresses), in order, once each.
fn mentioned(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    let mut prev: Option<char> = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '@' && prev.is_none_or(|p| !(p.is_alphanumeric() || p == '_')) {
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|ch| ch.is_ascii_alphanumeric() || **ch == '_')
                .collect();
            if !name.is_empty() && name.len() <= 30 && seen.insert(name.to_lowercase()) {
                names.push(name.clone());
            }
            i += 1 + name.chars().count();
            prev = name.chars().last().or(Some('@'));
            continue;
        }
        prev = Some(c);
        i += 1;
    }
    names
}

/// A direct message as a direct status.
pub async fn message_status(ctx: &Ctx, message: &Message) -> MastoResult<Status> {
    let links = links(ctx);
    let users = native::users_by_names(ctx, std::slice::from_ref(&message.from)).await?;
    let sender = match users.get(&message.from.to_lowercase()) {
        Some(u) => Account::from_user(u, &links),
        None => Account::from_name(&message.from, &links),
    };
    Ok(Status::from_message(message, sender, &links))
}

/// `POST /api/v1/statuses`: a post (a reply with `in_reply_to_id`, a poll
/// with `poll`), or with `visibility: direct` a direct message to each
/// mentioned account. `Idempotency-Key` makes a retry return the first post.
pub async fn create(ctx: Ctx, headers: HeaderMap, body: RawBody) -> JsonResult {
    ctx.require("write:statuses")?;
    let params = ctx.with_body(&headers, &body)?;
    if !params.list("media_ids").is_empty() {
        return Err(MastoError::unprocessable(
            "media attachments are not supported",
        ));
    }
    if params
        .string("scheduled_at")
        .is_some_and(|s| !s.trim().is_empty())
    {
        return Err(MastoError::unprocessable(
            "scheduled statuses are not supported",
        ));
    }
    let text = params.text("status");
    let poll = params.object("poll");
    let visibility = params.text("visibility").unwrap_or_else(|| "public".into());
    if !matches!(
        visibility.as_str(),
        "public" | "unlisted" | "private" | "direct"
    ) {
        return Err(MastoError::unprocessable(
            "Visibility is not included in the list",
        ));
    }
    let Some(text) = text else {
        return Err(MastoError::unprocessable("Text can't be blank"));
    };
    if visibility == "direct" {
        return direct(&ctx, &text, params.text("in_reply_to_id")).await;
    }
    let mut idempotency: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if let Some(key) = headers.get("idempotency-key") {
        idempotency.push((HeaderName::from_static("idempotency-key"), key.clone()));
    }
    // A poll is its own object in Rookery: made first, then linked to the post.
    let made_poll = match &poll {
        Some(poll) => {
            let options = poll.list("options");
            if poll.bool("multiple")?.unwrap_or(false) {
                return Err(MastoError::unprocessable(
                    "multiple-choice polls are not supported",
                ));
            }
            let created: native::Poll = ctx
                .send_json(
                    Method::POST,
                    "/api/v1/polls",
                    Some(json!({ "question": text, "options": options })),
                )
                .await?;
            Some(created)
        }
        None => None,
    };
    let mut body = json!({ "text": text });
    if let Some(parent) = params.text("in_reply_to_id") {
        body["in_reply_to"] = json!(parent);
    }
    let (_, bytes) = ctx
        .svc
        .api
        .call_with_headers(
            &ctx.caller(),
            Method::POST,
            "/api/v1/posts",
            Some(body),
            &idempotency,
        )
        .await?;
    let created: Post = rookery_gateway::client::decode(&bytes)?;
    if let Some(poll_id) = made_poll.as_ref().and_then(|p| p.id.parse::<i64>().ok()) {
        ctx.svc.link_poll(created.id_num(), poll_id).await?;
    }
    // Without a key the post is new; with one it may be an earlier post
    // returned again, with favourites and reblogs of its own by now.
    let status = if idempotency.is_empty() {
        new_status(&ctx, &created, made_poll.as_ref()).await?
    } else {
        render_status(&ctx, &created).await?
    };
    Ok(json(&status))
}

async fn direct(ctx: &Ctx, text: &str, in_reply_to: Option<String>) -> JsonResult {
    let me = ctx.username().await?;
    let to: Vec<String> = mentioned(text)
        .into_iter()
        .filter(|n| !n.eq_ignore_ascii_case(&me))
        .collect();
    if to.is_empty() {
        return Err(MastoError::unprocessable(
            "a direct status must mention the accounts it is for",
        ));
    }
    let mut first: Option<Message> = None;
    for name in to.iter().take(20) {
        // A reply to a direct status answers that message when the
        // recipient is its other participant.
        let sent: Message = match &in_reply_to {
            Some(parent) => {
                let replied = ctx
                    .send_json::<Message>(
                        Method::POST,
                        &format!("/api/v1/messages/{}/replies", enc(parent)),
                        Some(json!({ "text": text })),
                    )
                    .await;
                match replied {
                    Ok(m) if m.to.eq_ignore_ascii_case(name) => m,
                    _ => {
                        ctx.send_json(
                            Method::POST,
                            "/api/v1/messages",
                            Some(json!({ "to": name, "text": text })),
                        )
                        .await?
                    }
                }
            }
            None => {
                ctx.send_json(
                    Method::POST,
                    "/api/v1/messages",
                    Some(json!({ "to": name, "text": text })),
                )
                .await?
            }
        };
        first.get_or_insert(sent);
    }
    let first = first.ok_or_else(|| MastoError::unprocessable("no recipient"))?;
    Ok(json(&message_status(ctx, &first).await?))
}

/// `GET /api/v1/statuses/:id`: a post, or (for its participants) a direct
/// message.
pub async fn show(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:statuses")?;
    let id = status_id(&id)?;
    match post(&ctx, id).await {
        Ok(p) => Ok(json(&render_status(&ctx, &p).await?)),
        Err(e) if e.status == StatusCode::NOT_FOUND && ctx.viewer().is_some() => {
            let message: Message = ctx.get(&format!("/api/v1/messages/{id}")).await?;
            Ok(json(&message_status(&ctx, &message).await?))
        }
        Err(e) => Err(e),
    }
}

/// `PUT /api/v1/statuses/:id`: edits the text (the author only).
pub async fn edit(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> JsonResult {
    ctx.require("write:statuses")?;
    let id = status_id(&id)?;
    let params = ctx.with_body(&headers, &body)?;
    let text = params
        .text("status")
        .ok_or_else(|| MastoError::unprocessable("Text can't be blank"))?;
    let edited: Post = ctx
        .send_json(
            Method::PATCH,
            &format!("/api/v1/posts/{id}"),
            Some(json!({ "text": text })),
        )
        .await
        .map_err(|e| {
            if e.status == StatusCode::FORBIDDEN {
                MastoError::forbidden("This action is not allowed")
            } else {
                e
            }
        })?;
    Ok(json(&render_status(&ctx, &edited).await?))
}

/// `DELETE /api/v1/statuses/:id`: the deleted status, with its `text`
/// (apps offer "delete and redraft").
pub async fn remove(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.require("write:statuses")?;
    let id = status_id(&id)?;
    match post(&ctx, id).await {
        Ok(current) => {
            let mut status = render_status(&ctx, &current).await?;
            ctx.send(Method::DELETE, &format!("/api/v1/posts/{id}"), None)
                .await?;
            status.text = current.text.clone().or(current.title.clone());
            Ok(json(&status))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            // A direct message leaves the caller's view.
            let message: Message = ctx.get(&format!("/api/v1/messages/{id}")).await?;
            let mut status = message_status(&ctx, &message).await?;
            ctx.send(Method::DELETE, &format!("/api/v1/messages/{id}"), None)
                .await?;
            status.text = Some(message.text);
            Ok(json(&status))
        }
        Err(e) => Err(e),
    }
}

/// Most statuses a thread's context shows on either side.
const CONTEXT_LIMIT: usize = 200;

/// `GET /api/v1/statuses/:id/context`: the ancestors (oldest first) and the
/// descendants (depth first, each level oldest first).
pub async fn context(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:statuses")?;
    let id = status_id(&id)?;
    let start = post(&ctx, id).await?;
    let mut ancestors: Vec<Post> = Vec::new();
    let mut parent = start.in_reply_to.clone();
    while let Some(pid) = parent {
        if ancestors.len() >= CONTEXT_LIMIT {
            break;
        }
        match post(&ctx, pid.parse().unwrap_or(0)).await {
            Ok(p) => {
                parent = p.in_reply_to.clone();
                ancestors.push(p);
            }
            Err(_) => break,
        }
    }
    ancestors.reverse();
    // Descendants, depth first: a node's replies follow it.
    let mut descendants: Vec<Post> = Vec::new();
    let mut stack: Vec<Post> = vec![start];
    while let Some(node) = stack.pop() {
        if node.reply_count == 0 || descendants.len() >= CONTEXT_LIMIT {
            continue;
        }
        let page: Page<Post> = ctx
            .svc
            .api
            .get(
                &ctx.anonymous(),
                &format!("/api/v1/posts/{}/replies?limit=100", node.id),
            )
            .await?;
        let replies = page.items;
        // Push in reverse so the oldest reply is visited first.
        for reply in replies.iter().rev() {
            stack.push(reply.clone());
        }
        // Insert this node's replies right after it in the output order.
        let at = descendants
            .iter()
            .position(|p| p.id == node.id)
            .map(|i| i + 1)
            .unwrap_or(descendants.len());
        for (offset, reply) in replies.into_iter().enumerate() {
            descendants.insert(at + offset, reply);
        }
    }
    descendants.truncate(CONTEXT_LIMIT);
    let ancestors = render_statuses(&ctx, &ancestors, false).await?;
    let descendants = render_statuses(&ctx, &descendants, false).await?;
    Ok(json(
        &json!({ "ancestors": ancestors, "descendants": descendants }),
    ))
}

/// The caller's repost of `id`, if any.
async fn my_repost(ctx: &Ctx, id: i64) -> MastoResult<Option<String>> {
    let found = native::my_reposts(ctx, &[id.to_string()]).await?;
    Ok(found.get(&id.to_string()).cloned())
}

/// `POST /api/v1/statuses/:id/{reblog,unreblog,favourite,unfavourite,bookmark,unbookmark}`.
pub async fn act(ctx: Ctx, Path((id, action)): Path<(String, String)>) -> JsonResult {
    let scope = match action.as_str() {
        "reblog" | "unreblog" => "write:statuses",
        "favourite" | "unfavourite" => "write:favourites",
        "bookmark" | "unbookmark" => "write:bookmarks",
        "pin" | "unpin" | "mute" | "unmute" => "write:accounts",
        _ => return Err(MastoError::not_found()),
    };
    ctx.require(scope)?;
    let id = status_id(&id)?;
    match action.as_str() {
        "reblog" => {
            let created = ctx
                .send_json::<Post>(Method::POST, &format!("/api/v1/posts/{id}/repost"), None)
                .await;
            let repost = match created {
                Ok(p) => p,
                // Reblogging twice gives the existing reblog, as on Mastodon.
                Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
                    let existing = my_repost(&ctx, id).await?.ok_or(e)?;
                    post(&ctx, existing.parse().unwrap_or(0)).await?
                }
                Err(e) => return Err(e),
            };
            Ok(json(&render_status(&ctx, &repost).await?))
        }
        "unreblog" => {
            if let Some(repost) = my_repost(&ctx, id).await? {
                ctx.send(Method::DELETE, &format!("/api/v1/posts/{repost}"), None)
                    .await?;
            }
            let original = post(&ctx, id).await?;
            Ok(json(&render_status(&ctx, &original).await?))
        }
        "favourite" | "unfavourite" => {
            let method = if action == "favourite" {
                Method::POST
            } else {
                Method::DELETE
            };
            let tally: native::Tally = ctx
                .send_json(method, &format!("/api/v1/posts/{id}/like"), None)
                .await?;
            let current = post(&ctx, id).await?;
            let mut status = render_status(&ctx, &current).await?;
            // The post's own counters follow votes within moments; the
            // vote's answer is already exact.
            status.favourites_count = tally.upvotes;
            status.favourited = Some(tally.my_vote.as_deref() == Some("up"));
            status.rookery.upvotes = tally.upvotes;
            status.rookery.downvotes = tally.downvotes;
            status.rookery.score = tally.score;
            Ok(json(&status))
        }
        "bookmark" | "unbookmark" => {
            // Rookery keeps no bookmarks: the status, unchanged.
            let current = post(&ctx, id).await?;
            Ok(json(&render_status(&ctx, &current).await?))
        }
        _ => Err(MastoError::unprocessable(format!(
            "{action} is not supported"
        ))),
    }
}

async fn poll_entity(ctx: &Ctx, id: i64) -> MastoResult<Poll> {
    let poll: native::Poll = ctx.get(&format!("/api/v1/polls/{id}")).await?;
    Ok(Poll::from_native(&poll, ctx.viewer().is_some()))
}

/// `GET /api/v1/polls/:id`.
pub async fn poll(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:statuses")?;
    let id = status_id(&id)?;
    Ok(json(&poll_entity(&ctx, id).await?))
}

/// `POST /api/v1/polls/:id/votes` with `choices[]` (one choice: Rookery's
/// polls are single-choice).
pub async fn vote(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> JsonResult {
    ctx.require("write:statuses")?;
    let id = status_id(&id)?;
    let params = ctx.with_body(&headers, &body)?;
    let choices = params.list("choices");
    let choice: i64 = match choices.as_slice() {
        [one] => one
            .trim()
            .parse()
            .map_err(|_| MastoError::unprocessable("choices must be option indexes"))?,
        [] => return Err(MastoError::unprocessable("choices can't be blank")),
        _ => return Err(MastoError::unprocessable("this poll allows one choice")),
    };
    let voted: native::Poll = ctx
        .send_json(
            Method::POST,
            &format!("/api/v1/polls/{id}/votes"),
            Some(json!({ "choice": choice })),
        )
        .await
        .map_err(|e| {
            if e.status == StatusCode::UNPROCESSABLE_ENTITY && e.error.contains("already") {
                MastoError::unprocessable("You have already voted on this poll")
            } else {
                e
            }
        })?;
    Ok(json(&Poll::from_native(&voted, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_once_and_not_in_addresses() {
        assert_eq!(
            mentioned("@alice hi @Bob and @alice, mail me@host.x (@carol_2)"),
            vec!["alice", "Bob", "carol_2"]
        );
    }
}
