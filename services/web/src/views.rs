//! HTML: the page layout and the pieces pages share. maud escapes every
//! interpolated string, so user content never becomes markup.

use chrono::{DateTime, Datelike, Timelike, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::api::{Post, User, enc};
use crate::assets;

/// What the layout needs besides the page's own content.
pub struct Chrome<'a> {
    pub title: &'a str,
    pub username: Option<&'a str>,
    pub unread: i64,
    pub csrf: &'a str,
    /// Where "Log out" and other forms come back to.
    pub here: &'a str,
}

pub fn layout(chrome: &Chrome<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (chrome.title) " · Rookery" }
                link rel="stylesheet" href=(assets::css_url());
                link rel="icon" href="data:,";
                script src=(assets::js_url()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { "Rookery" }
                        @if let Some(me) = chrome.username {
                            a href="/" { "Home" }
                            a href="/notifications" {
                                "Notifications"
                                @if chrome.unread > 0 {
                                    " " span.badge { (chrome.unread) span.sr { " unread" } }
                                }
                            }
                            a href="/messages" { "Messages" }
                            a href="/search" { "Search" }
                            a href="/polls/new" { "New poll" }
                            a href={ "/u/" (enc(me)) } { "Profile" }
                            a href="/settings" { "Settings" }
                            form.inline method="post" action="/logout" {
                                (csrf_field(chrome.csrf))
                                button.link type="submit" { "Log out" }
                            }
                        } @else {
                            a href="/search" { "Search" }
                            a href={ "/login?next=" (enc(chrome.here)) } { "Log in" }
                            a.button href="/signup" { "Sign up" }
                        }
                    }
                }
                main id="main" { (content) }
                footer.bottom { p { "Rookery · " a href="/docs" { "API documentation" } } }
            }
        }
    }
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

pub fn next_field(next: &str) -> Markup {
    html! { input type="hidden" name="next" value=(next); }
}

/// "3 min ago", with the exact time in the element for hover and machines.
pub fn time_ago(rfc3339: &str, now: DateTime<Utc>) -> Markup {
    let Ok(at) = DateTime::parse_from_rfc3339(rfc3339) else {
        return html! { (rfc3339) };
    };
    let at = at.with_timezone(&Utc);
    let secs = (now - at).num_seconds().max(0);
    let text = match secs {
        0..=44 => "just now".to_string(),
        45..=3599 => format!("{} min ago", (secs / 60).max(1)),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        86_400..=2_591_999 => format!("{} d ago", secs / 86_400),
        _ => {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            format!(
                "{} {} {}",
                at.day(),
                MONTHS[at.month0() as usize],
                at.year()
            )
        }
    };
    let exact = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute()
    );
    html! { time datetime=(rfc3339) title=(exact) { (text) } }
}

pub fn avatar(username: &str, size: u32) -> Markup {
    html! {
        img.avatar src={ "/avatar/" (enc(username)) ".svg" } alt="" width=(size) height=(size);
    }
}

/// Text with line breaks kept, `@name` linked to profiles and `#tag` to a
/// search; everything else escaped.
pub fn rich_text(text: &str) -> Markup {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find(['@', '#']) {
        escape_into(&mut out, &rest[..i]);
        let sigil = &rest[i..i + 1];
        let after = &rest[i + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let boundary = i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric());
        if word_len == 0 || word_len > 50 || !boundary {
            out.push_str(sigil);
            rest = after;
            continue;
        }
        let word = &after[..word_len];
        let href = if sigil == "@" {
            format!("/u/{word}")
        } else {
            format!("/search?q=%23{word}")
        };
        out.push_str(&format!("<a href=\"{href}\">{sigil}{word}</a>"));
        rest = &after[word_len..];
    }
    escape_into(&mut out, rest);
    html! { (PreEscaped(out.replace('\n', "<br>"))) }
}

/// Per-post controls: votes with the score, repost, and for the author
/// edit and delete.
pub struct PostControls<'a> {
    pub me: Option<&'a str>,
    pub csrf: &'a str,
    pub here: &'a str,
    /// How the viewer voted (`Some(None)`: not at all), or `None` where it
    /// is not known (listings do not say): only a known vote makes the
    /// buttons tell whether they are pressed.
    pub my_vote: Option<Option<&'a str>>,
    /// The hidden fields every form of the page carries, escaped once.
    pub hidden: std::cell::OnceCell<String>,
}

impl<'a> PostControls<'a> {
    /// Controls for posts whose viewer's votes are not known (listings).
    pub fn new(me: Option<&'a str>, csrf: &'a str, here: &'a str) -> Self {
        Self {
            me,
            csrf,
            here,
            my_vote: None,
            hidden: Default::default(),
        }
    }

    fn hidden(&self) -> PreEscaped<&str> {
        PreEscaped(self.hidden.get_or_init(|| {
            html! { (csrf_field(self.csrf)) (next_field(self.here)) }.into_string()
        }))
    }
}

/// The vote buttons and the score. The buttons belong to the post's one
/// form (see [`post_card`]); each names its own action.
pub fn votes_box(post_id: &str, score: i64, controls: &PostControls<'_>) -> Markup {
    let box_id = format!("votes-{post_id}");
    let known = controls.my_vote.is_some();
    let up = controls.my_vote == Some(Some("up"));
    let down = controls.my_vote == Some(Some("down"));
    html! {
        span.votes id=(box_id) {
            @if controls.me.is_some() {
                button type="submit" formaction={ "/p/" (post_id) "/upvote" } data-inline=(box_id)
                    aria-pressed=[known.then(|| up.to_string())] name=[up.then_some("undo")] value=[up.then_some("1")] { "Upvote" }
            }
            span.score { (score) span.sr { " points" } }
            @if controls.me.is_some() {
                button type="submit" formaction={ "/p/" (post_id) "/downvote" } data-inline=(box_id)
                    aria-pressed=[known.then(|| down.to_string())] name=[down.then_some("undo")] value=[down.then_some("1")] { "Downvote" }
            }
        }
    }
}

/// One post with its controls: one form (the page's hidden fields once)
/// whose buttons post to their own `formaction`; Edit is a link-like GET form.
pub fn post_card(post: &Post, now: DateTime<Utc>, controls: &PostControls<'_>) -> Markup {
    let own = controls.me == Some(post.author.as_str());
    let actions = html! {
        (votes_box(&post.id, post.score, controls))
        a href={ "/p/" (post.id) } { (post.reply_count) " " (if post.reply_count == 1 { "reply" } else { "replies" }) }
        @if controls.me.is_some() && post.repost_of.is_none() {
            button type="submit" formaction={ "/p/" (post.id) "/repost" } { "Repost" }
        }
        @if own {
            button.danger type="submit" formaction={ "/p/" (post.id) "/delete" } { "Delete" }
        }
    };
    html! {
        article.post {
            (avatar(&post.author, 40))
            div.body {
                p.meta {
                    a.author href={ "/u/" (enc(&post.author)) } { (post.author) }
                    @if post.repost_of.is_some() { " reposted" }
                    " · "
                    a href={ "/p/" (post.id) } { (time_ago(&post.created_at, now)) }
                    @if let Some(c) = &post.community {
                        " · " a href={ "/c/" (enc(c)) } { "c/" (c) }
                    }
                    @if post.edited_at.is_some() { " · edited" }
                }
                @if let Some(title) = &post.title {
                    h3.title { a href={ "/p/" (post.id) } { (title) } }
                }
                @if let Some(original) = &post.repost_of {
                    p { a href={ "/p/" (original.id) } { "See the original post" } }
                }
                @if let Some(text) = &post.text {
                    div.text { (rich_text(text)) }
                }
                @if let Some(url) = &post.url {
                    p.link { a href=(url) rel="nofollow ugc noopener" { (url) } }
                }
                div.actions {
                    @if controls.me.is_some() {
                        form.inline method="post" action={ "/p/" (post.id) } {
                            (controls.hidden())
                            (actions)
                        }
                    } @else {
                        (actions)
                    }
                    @if own && post.repost_of.is_none() {
                        form.inline method="get" action={ "/p/" (post.id) "/edit" } {
                            button type="submit" { "Edit" }
                        }
                    }
                }
            }
        }
    }
}

/// A list of posts with its "More" link (loaded in place by the script).
pub fn post_list(
    list_id: &str,
    posts: &[Post],
    more: Option<String>,
    now: DateTime<Utc>,
    controls: &PostControls<'_>,
) -> Markup {
    html! {
        ol.feed id=(list_id) {
            @for post in posts { li { (post_card(post, now, controls)) } }
        }
        (more_link(list_id, more))
    }
}

pub fn more_link(list_id: &str, more: Option<String>) -> Markup {
    html! {
        @if let Some(href) = more {
            p.more { a href=(href) data-more=(list_id) { "More" } }
        }
    }
}

pub fn user_row(user: &User) -> Markup {
    html! {
        div.user-row {
            (avatar(&user.username, 32))
            a href={ "/u/" (enc(&user.username)) } { (user.username) }
            @if !user.bio.is_empty() { span.muted { " — " (user.bio) } }
        }
    }
}

/// An empty list: what it means and what to do next.
pub fn empty(message: &str, next: Markup) -> Markup {
    html! { div.empty { p { (message) } (next) } }
}

/// The initials avatar as SVG, coloured by a hash of the name.
pub fn avatar_svg(username: &str) -> String {
    let initials: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    let hash = username
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    let hue = hash % 360;
    let mut escaped = String::new();
    escape_into(&mut escaped, &initials);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 40 40\"><rect width=\"40\" height=\"40\" rx=\"20\" fill=\"hsl({hue},55%,32%)\"/><text x=\"20\" y=\"25.5\" font-family=\"system-ui,sans-serif\" font-size=\"15\" font-weight=\"600\" fill=\"#fff\" text-anchor=\"middle\">{escaped}</text></svg>"
    )
}

fn escape_into(out: &mut String, text: &str) {
    use std::fmt::Write;
    let _ = maud::Escaper::new(out).write_str(text);
}
