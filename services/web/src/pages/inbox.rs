//! Direct messages and notifications.

use axum::extract::{Path, Query};
use bytes::Bytes;
use http::{Method, Uri};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::{
    PAGE_SIZE, PageError, PageResult, checked_form, cursor_param, fragment_response, here, now,
    redirect,
};
use crate::api::{Count, Message, Notification, Page, enc};
use crate::pages::posts::valid_id;
use crate::session::Ctx;
use crate::views::{avatar, csrf_field, empty, more_link, rich_text, time_ago};

#[derive(Deserialize, Default)]
pub struct MessagesQuery {
    #[serde(rename = "box")]
    mailbox: Option<String>,
    cursor: Option<String>,
    to: Option<String>,
}

fn message_item(m: &Message, now: chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        li.message {
            p.meta {
                "From " a href={ "/u/" (enc(&m.from)) } { (m.from) }
                " to " a href={ "/u/" (enc(&m.to)) } { (m.to) }
                " · " a href={ "/messages/" (m.id) } { (time_ago(&m.created_at, now)) }
            }
            div.text { (rich_text(&m.text)) }
        }
    }
}

pub async fn list(ctx: Ctx, uri: Uri, Query(q): Query<MessagesQuery>) -> PageResult {
    ctx.require_login()?;
    let sent = q.mailbox.as_deref() == Some("sent");
    let mailbox = if sent { "sent" } else { "inbox" };
    let here = here(&uri);
    let path = format!(
        "/api/v1/messages?box={mailbox}&limit={PAGE_SIZE}{}",
        cursor_param(&q.cursor)
    );
    let (page, unread) = tokio::join!(
        ctx.svc.api.get::<Page<Message>>(&ctx.caller, &path),
        ctx.unread()
    );
    let page = ctx.ok(page).await?;
    let unread = unread?;
    let now = now();
    let more = page
        .next_cursor
        .map(|c| format!("/messages?box={mailbox}&cursor={}", enc(&c)));
    let list = html! {
        ul.plain id="messages" { @for m in &page.items { (message_item(m, now)) } }
        (more_link("messages", more))
    };
    if ctx.fragment {
        return Ok(fragment_response(list));
    }
    let to = q.to.as_deref().unwrap_or("");
    let content = html! {
        h1 { "Messages" }
        nav.tabs aria-label="Mailboxes" {
            a href="/messages" aria-current=[(!sent).then_some("page")] { "Inbox" }
            a href="/messages?box=sent" aria-current=[sent.then_some("page")] { "Sent" }
        }
        @if page.items.is_empty() {
            (empty(if sent { "You have not sent any messages." } else { "No messages yet." },
                html! { p { "Write to someone with the form below." } }))
        } @else {
            (list)
        }
        h2 { "New message" }
        form.card method="post" action="/messages" {
            (csrf_field(&ctx.csrf))
            label for="to" { "To" }
            input type="text" id="to" name="to" value=(to) required autocapitalize="none" spellcheck="false";
            label for="message" { "Message" }
            textarea id="message" name="text" maxlength="2000" required {}
            label for="quick-replies" { "Quick replies" }
            textarea id="quick-replies" name="quick_replies" aria-describedby="quick-hint" {}
            p.muted id="quick-hint" { "Optional: answers the recipient can send with one click, one per line (up to 5)." }
            div.form-actions { button.primary type="submit" { "Send" } }
        }
    };
    Ok(ctx.page("Messages", &here, unread, content))
}

pub async fn send(ctx: Ctx, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let form = checked_form(&ctx, &body)?;
    let quick: Vec<&str> = form
        .get("quick_replies")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut message =
        json!({"to": form.get("to").unwrap_or("").trim(), "text": form.get("text").unwrap_or("")});
    if !quick.is_empty() {
        message["quick_replies"] = json!(quick);
    }
    let sent: Message = match ctx
        .svc
        .api
        .send_json(&ctx.caller, Method::POST, "/api/v1/messages", Some(message))
        .await
    {
        Ok(m) => m,
        // The page exists; the recipient does not.
        Err(f) if f.status == http::StatusCode::NOT_FOUND => {
            return Err(PageError::BadRequest(
                "There is no account with that name. Check the \"To\" field.".into(),
            ));
        }
        Err(f) => return Err(ctx.failed(f).await),
    };
    Ok(redirect(&format!("/messages/{}", sent.id)))
}

pub async fn thread(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let session = ctx.require_login()?;
    let id = valid_id(&id)?;
    let api = &ctx.svc.api;
    let (message_path, replies_path) = (
        format!("/api/v1/messages/{id}"),
        format!("/api/v1/messages/{id}/replies?limit=100"),
    );
    let (message, replies, unread) = tokio::join!(
        api.get::<Message>(&ctx.caller, &message_path),
        api.get::<Page<Message>>(&ctx.caller, &replies_path),
        ctx.unread(),
    );
    let message = ctx.ok(message).await?;
    let replies = ctx.ok(replies).await?;
    let unread = unread?;
    let now = now();
    let other = if message.from.eq_ignore_ascii_case(&session.username) {
        &message.to
    } else {
        &message.from
    };
    let offered =
        message.to.eq_ignore_ascii_case(&session.username) && !message.quick_replies.is_empty();
    let content = html! {
        h1 { "Conversation with " (other) }
        @if let Some(parent) = &message.in_reply_to {
            p { a href={ "/messages/" (parent) } { "See the message this answers" } }
        }
        ul.plain {
            (message_item(&message, now))
            @for r in &replies.items { (message_item(r, now)) }
        }
        @if offered {
            h2 { "Quick replies" }
            div.actions {
                @for (i, text) in message.quick_replies.iter().enumerate() {
                    form.inline method="post" action={ "/messages/" (id) "/reply" } {
                        (csrf_field(&ctx.csrf))
                        input type="hidden" name="quick_reply" value=(i);
                        button type="submit" { (text) }
                    }
                }
            }
        }
        form.card method="post" action={ "/messages/" (id) "/reply" } {
            (csrf_field(&ctx.csrf))
            label for="reply" { "Reply" }
            textarea id="reply" name="text" maxlength="2000" required {}
            div.form-actions { button.primary type="submit" { "Send" } }
        }
        p { a href="/messages" { "Back to your messages" } }
    };
    Ok(ctx.page(
        &format!("Conversation with {other}"),
        &format!("/messages/{id}"),
        unread,
        content,
    ))
}

pub async fn reply(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> PageResult {
    ctx.require_login()?;
    let id = valid_id(&id)?.to_string();
    let form = checked_form(&ctx, &body)?;
    let reply = match form.get("quick_reply") {
        Some(i) => {
            json!({"quick_reply": i.trim().parse::<u32>().map_err(|_| PageError::BadRequest("No such quick reply.".into()))?})
        }
        None => json!({"text": form.get("text").unwrap_or("")}),
    };
    ctx.ok(ctx
        .svc
        .api
        .send(
            &ctx.caller,
            Method::POST,
            &format!("/api/v1/messages/{id}/replies"),
            Some(reply),
        )
        .await)
        .await?;
    Ok(redirect(&format!("/messages/{id}")))
}

#[derive(Deserialize, Default)]
pub struct NotificationsQuery {
    cursor: Option<String>,
}

fn describe(n: &Notification) -> &'static str {
    match n.kind.as_str() {
        "follow" => "followed you",
        "reply" => "replied to your post",
        "mention" => "mentioned you",
        "repost" => "reposted your post",
        "like" => "liked your post",
        "message" => "sent you a message",
        _ => "did something",
    }
}

pub async fn notifications(ctx: Ctx, uri: Uri, Query(q): Query<NotificationsQuery>) -> PageResult {
    ctx.require_login()?;
    let here = here(&uri);
    let api = &ctx.svc.api;
    let path = format!(
        "/api/v1/notifications?limit={PAGE_SIZE}{}",
        cursor_param(&q.cursor)
    );
    let page = ctx
        .ok(api.get::<Page<Notification>>(&ctx.caller, &path).await)
        .await?;
    // Seen now: the newest shown and everything older become read (they
    // are still marked on this page).
    let unread = match page.items.iter().find(|n| !n.read) {
        Some(_) => {
            let newest = &page.items[0].id;
            api.send_json::<Count>(
                &ctx.caller,
                Method::POST,
                "/api/v1/notifications/read",
                Some(json!({"up_to": newest})),
            )
            .await
            .map(|c| {
                ctx.remember_unread(c.count);
                c.count
            })
            .unwrap_or(0)
        }
        None => ctx.unread().await?,
    };
    let now = now();
    let more = page
        .next_cursor
        .map(|c| format!("/notifications?cursor={}", enc(&c)));
    let list = html! {
        ul.plain id="notifications" {
            @for n in &page.items {
                li.message.unread[!n.read] {
                    div.user-row {
                        (avatar(&n.account.username, 32))
                        p {
                            @if !n.read { strong { "New: " } }
                            a href={ "/u/" (enc(&n.account.username)) } { (n.account.username) }
                            " " (describe(n)) " · " (time_ago(&n.created_at, now))
                        }
                    }
                    @if let Some(post) = &n.post {
                        p.muted {
                            a href={ "/p/" (post.id) } {
                                @if let Some(t) = &post.title { (t) }
                                @else if let Some(t) = &post.text { (t.chars().take(140).collect::<String>()) }
                                @else { "See the post" }
                            }
                        }
                    }
                    @if let Some(m) = &n.message_id {
                        p { a href={ "/messages/" (m) } { "Read the message" } }
                    }
                }
            }
        }
        (more_link("notifications", more))
    };
    if ctx.fragment {
        return Ok(fragment_response(list));
    }
    let content = html! {
        h1 { "Notifications" }
        @if page.items.is_empty() {
            (empty("Nothing yet.", html! { p { "When people follow you, reply, mention or like your posts, it shows here. "
                a href="/search" { "Find people to follow" } "." } }))
        } @else {
            (list)
        }
    };
    Ok(ctx.page("Notifications", &here, unread, content))
}
