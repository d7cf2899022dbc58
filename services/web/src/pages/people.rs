//! Profiles, follows, blocks and mutes, and one's own settings.

use axum::extract::{Path, Query};
use bytes::Bytes;
use http::{Method, StatusCode, Uri};
use maud::{Markup, html};
use serde_json::json;

use super::{
    ListQuery, PAGE_SIZE, PageError, PageResult, checked_form, cursor_param, fragment_response,
    here, now, redirect,
};
use crate::api::{ApiFailure, Page, RelationshipList, Token, User, enc};
use crate::session::Ctx;
use crate::views::{PostControls, avatar, csrf_field, empty, next_field, post_list, time_ago};

/// Usernames as the API accepts them; anything else has no profile.
pub fn valid_username(name: &str) -> Result<&str, PageError> {
    if !name.is_empty()
        && name.len() <= 30
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(name)
    } else {
        Err(PageError::NotFound)
    }
}

/// One relation toggle (follow, block, mute) as a form the script can send
/// in the background.
fn relation_box(ctx: &Ctx, username: &str, kind: &str, on: bool, next: &str) -> Markup {
    let (do_label, undo_label) = match kind {
        "follow" => ("Follow", "Unfollow"),
        "block" => ("Block", "Unblock"),
        _ => ("Mute", "Unmute"),
    };
    let (action, label) = if on {
        (format!("un{kind}"), undo_label)
    } else {
        (kind.to_string(), do_label)
    };
    let box_id = format!("{kind}-box");
    html! {
        form.inline id=(box_id) method="post" action={ "/u/" (enc(username)) "/" (action) } data-inline=(box_id) {
            (csrf_field(&ctx.csrf)) (next_field(next))
            button.primary[kind == "follow" && !on] type="submit" { (label) }
        }
    }
}

/// Whether `name` is among the first page of a list of accounts.
pub async fn profile(
    ctx: Ctx,
    Path(name): Path<String>,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let name = valid_username(&name)?.to_string();
    let here = here(&uri);
    let api = &ctx.svc.api;
    let me = ctx.username().map(str::to_owned);
    let other = me
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case(&name));
    let user_path = format!("/api/v1/users/{}", enc(&name));
    let posts_path = format!(
        "/api/v1/users/{}/posts?limit={PAGE_SIZE}{}",
        enc(&name),
        cursor_param(&q.cursor)
    );
    // Where the viewer stands with them: one exact lookup.
    let relation_path = format!("/api/v1/relationships?usernames={}", enc(&name));
    let relation = async {
        if other {
            api.get::<RelationshipList>(&ctx.caller, &relation_path)
                .await
                .ok()
                .and_then(|list| list.items.into_iter().next())
        } else {
            None
        }
    };
    let (user, posts, relation, unread) = tokio::join!(
        api.get::<User>(&ctx.caller, &user_path),
        ctx.post_page(&posts_path),
        relation,
        ctx.unread(),
    );
    let relation = relation.unwrap_or_default();
    let user = ctx.ok(user).await?;
    let posts = ctx.ok(posts).await?;
    let unread = unread?;
    let controls = PostControls::new(me.as_deref(), &ctx.csrf, &here);
    let now = now();
    let more = posts
        .next_cursor
        .as_ref()
        .map(|c| format!("/u/{}?cursor={}", enc(&user.username), enc(c)));
    let list = post_list("feed", &posts.cards, more, now, &controls);
    if ctx.fragment {
        return Ok(fragment_response(list));
    }
    let own = me.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&name));
    let content = html! {
        div.profile {
            (avatar(&user.username, 72))
            div {
                h1 { (user.username) }
                @if !user.bio.is_empty() { p.bio { (user.bio) } }
                div.stats {
                    span { strong { (user.karma) } " karma" }
                    span { strong { (user.followers_count) } (if user.followers_count == 1 { " follower" } else { " followers" }) }
                    span { strong { (user.following_count) } " following" }
                    span.muted { "Joined " (time_ago(&user.created_at, now)) }
                }
            }
        }
        @if other {
            div.actions {
                (relation_box(&ctx, &user.username, "follow", relation.following, &here))
                a.button href={ "/messages?to=" (enc(&user.username)) } { "Message" }
                (relation_box(&ctx, &user.username, "mute", relation.muting, &here))
                (relation_box(&ctx, &user.username, "block", relation.blocking, &here))
            }
        } @else if own {
            p { a href="/settings" { "Edit your profile" } }
        } @else {
            p { "Log in to follow " (user.username) " or send a message." }
        }
        h2 { "Posts" }
        @if posts.cards.is_empty() {
            (empty(&format!("{} has not posted yet.", user.username), html! {
                @if own { p { a href="/" { "Write your first post" } "." } }
            }))
        } @else {
            (list)
        }
    };
    Ok(ctx.page(
        &format!("{} (profile)", user.username),
        &here,
        unread,
        content,
    ))
}

/// `POST /u/{name}/{action}`: follow, unfollow, block, unblock, mute, unmute.
pub async fn relation(
    ctx: Ctx,
    Path((name, action)): Path<(String, String)>,
    body: Bytes,
) -> PageResult {
    ctx.require_login()?;
    let name = valid_username(&name)?.to_string();
    let (kind, undo) = match action.as_str() {
        "follow" | "block" | "mute" => (action.clone(), false),
        "unfollow" | "unblock" | "unmute" => (action[2..].to_string(), true),
        _ => return Err(PageError::NotFound),
    };
    let form = checked_form(&ctx, &body)?;
    let next = form.next(&format!("/u/{}", enc(&name)));
    let method = if undo { Method::DELETE } else { Method::POST };
    let path = format!("/api/v1/users/{}/{kind}", enc(&name));
    ctx.ok(ctx.svc.api.send(&ctx.caller, method, &path, None).await)
        .await?;
    Ok(ctx.done(&next, || relation_box(&ctx, &name, &kind, !undo, &next)))
}

/// What the settings form shows again after a refusal.
#[derive(Default)]
struct SettingsEntered {
    bio: Option<String>,
    email: Option<String>,
    error: Option<String>,
    saved: bool,
}

async fn settings_view(ctx: &Ctx, entered: SettingsEntered, status: StatusCode) -> PageResult {
    let session = ctx.require_login()?;
    let api = &ctx.svc.api;
    let me_path = format!("/api/v1/users/{}", enc(&session.username));
    let (me, blocks, mutes, unread) = tokio::join!(
        api.get::<User>(&ctx.caller, &me_path),
        api.get::<Page<User>>(&ctx.caller, "/api/v1/blocks?limit=100"),
        api.get::<Page<User>>(&ctx.caller, "/api/v1/mutes?limit=100"),
        ctx.unread(),
    );
    let me = ctx.ok(me).await?;
    let blocks = ctx.ok(blocks).await?;
    let mutes = ctx.ok(mutes).await?;
    let bio = entered.bio.unwrap_or(me.bio.clone());
    let email = entered
        .email
        .unwrap_or(me.email.clone().unwrap_or_default());
    let hidden_list = |users: &[User], undo: &str, label: &str, none: &str| {
        html! {
            @if users.is_empty() { p.muted { (none) } }
            @else {
                ul.plain {
                    @for u in users {
                        li.user-row {
                            (avatar(&u.username, 32))
                            a href={ "/u/" (enc(&u.username)) } { (u.username) }
                            form.inline method="post" action={ "/u/" (enc(&u.username)) "/" (undo) } {
                                (csrf_field(&ctx.csrf)) (next_field("/settings"))
                                button type="submit" { (label) }
                            }
                        }
                    }
                }
            }
        }
    };
    let content = html! {
        h1 { "Settings" }
        @if entered.saved { p.notice role="status" { "Saved." } }
        @if let Some(e) = &entered.error { p.error role="alert" { (e) } }
        form.card method="post" action="/settings" {
            (csrf_field(&ctx.csrf))
            label for="bio" { "Bio" }
            textarea id="bio" name="bio" maxlength="500" { (bio) }
            label for="email" { "Email" }
            input type="email" id="email" name="email" value=(email) autocomplete="email";
            label for="new-password" { "New password" }
            input type="password" id="new-password" name="new_password" autocomplete="new-password"
                minlength="8" aria-describedby="password-hint";
            p.muted id="password-hint" { "Leave empty to keep your password. Changing it logs you out everywhere." }
            label for="current-password" { "Current password" }
            input type="password" id="current-password" name="current_password" autocomplete="current-password";
            div.form-actions { button.primary type="submit" { "Save" } }
        }
        h2 { "Blocked accounts" }
        (hidden_list(&blocks.items, "unblock", "Unblock", "You have blocked nobody."))
        h2 { "Muted accounts" }
        (hidden_list(&mutes.items, "unmute", "Unmute", "You have muted nobody."))
        h2 { "Deactivate account" }
        p { "Your profile and posts disappear and you can no longer log in. Your username stays reserved." }
        form method="get" action="/settings/deactivate" {
            button.danger type="submit" { "Deactivate account" }
        }
    };
    Ok(ctx.page_with_status(status, "Settings", "/settings", unread?, content))
}

#[derive(serde::Deserialize, Default)]
pub struct SettingsQuery {
    saved: Option<String>,
}

pub async fn settings_page(ctx: Ctx, Query(q): Query<SettingsQuery>) -> PageResult {
    let entered = SettingsEntered {
        saved: q.saved.is_some(),
        ..Default::default()
    };
    settings_view(&ctx, entered, StatusCode::OK).await
}

pub async fn save_settings(ctx: Ctx, body: Bytes) -> PageResult {
    let session = ctx.require_login()?.clone();
    let form = checked_form(&ctx, &body)?;
    let bio = form.get("bio").unwrap_or("").trim().to_string();
    let email = form.get("email").unwrap_or("").trim().to_string();
    let new_password = form.get("new_password").unwrap_or("");
    let current = form.get("current_password").unwrap_or("");
    let refuse = |error: String| SettingsEntered {
        bio: Some(bio.clone()),
        email: Some(email.clone()),
        error: Some(error),
        saved: false,
    };
    let api = &ctx.svc.api;
    let mut patch = json!({"bio": bio});
    if !email.is_empty() {
        patch["email"] = json!(email);
    }
    if !new_password.is_empty() {
        if current.is_empty() {
            return settings_view(
                &ctx,
                refuse("Enter your current password to set a new one.".into()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        // The current password is checked the way a login is (and counts
        // against the same failure limit).
        let check = api
            .send_json::<Token>(
                &ctx.caller,
                Method::POST,
                "/api/v1/auth/token",
                Some(json!({"username": session.username, "password": current})),
            )
            .await;
        match check {
            Ok(_) => {}
            Err(f) if f.status == StatusCode::UNAUTHORIZED => {
                return settings_view(
                    &ctx,
                    refuse("Your current password is not right.".into()),
                    StatusCode::BAD_REQUEST,
                )
                .await;
            }
            Err(f) => return Err(f.into()),
        }
        patch["password"] = json!(new_password);
    }
    let path = format!("/api/v1/users/{}", enc(&session.username));
    match api
        .send(&ctx.caller, Method::PATCH, &path, Some(patch))
        .await
    {
        Ok(_) => {}
        Err(f) if f.status == StatusCode::BAD_REQUEST || f.status == StatusCode::CONFLICT => {
            let message = if f.code == "email_taken" {
                "Another account uses that email.".to_string()
            } else {
                f.message.clone()
            };
            return settings_view(&ctx, refuse(message), f.status).await;
        }
        Err(f) => return Err(ctx.failed(f).await),
    }
    if new_password.is_empty() {
        return Ok(redirect("/settings?saved=1"));
    }
    // The API revoked every token of the account; its sessions end here too.
    end_all_sessions(&ctx, &session.username).await?;
    let mut response = redirect("/login?changed=1");
    ctx.end_session_cookie(&mut response);
    Ok(response)
}

async fn end_all_sessions(ctx: &Ctx, username: &str) -> Result<(), PageError> {
    ctx.svc
        .sessions
        .delete_for_user(username)
        .await
        .map(|_| ())
        .map_err(|e| PageError::Unavailable(e.to_string()))
}

pub async fn deactivate_page(ctx: Ctx) -> PageResult {
    ctx.require_login()?;
    let unread = ctx.unread().await?;
    let content = html! {
        h1 { "Deactivate account" }
        p { "This cannot be undone: your profile and posts disappear, your sessions end and your username stays reserved." }
        form.card method="post" action="/settings/deactivate" {
            (csrf_field(&ctx.csrf))
            div.form-actions {
                button.danger type="submit" data-confirm="Deactivate your account for good?" { "Deactivate account" }
                a href="/settings" { "Keep my account" }
            }
        }
    };
    Ok(ctx.page(
        "Deactivate account",
        "/settings/deactivate",
        unread,
        content,
    ))
}

pub async fn deactivate(ctx: Ctx, body: Bytes) -> PageResult {
    let session = ctx.require_login()?.clone();
    checked_form(&ctx, &body)?;
    let path = format!("/api/v1/users/{}", enc(&session.username));
    let result: Result<_, ApiFailure> = ctx
        .svc
        .api
        .send(&ctx.caller, Method::DELETE, &path, None)
        .await;
    ctx.ok(result).await?;
    end_all_sessions(&ctx, &session.username).await?;
    let mut response = redirect("/");
    ctx.end_session_cookie(&mut response);
    Ok(response)
}
