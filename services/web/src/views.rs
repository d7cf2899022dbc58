//! HTML: the page layout and the pieces pages share. maud escapes every
//! interpolated string, so user content never becomes markup.

use std::sync::Arc;

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
    let mut text = String::new();
    write_relative(&mut text, at, now);
    time_element(rfc3339, at, PreEscaped(text.as_str()))
}

/// The `<time>` element around `text` (the relative time, or a slot for it).
fn time_element(rfc3339: &str, at: DateTime<Utc>, text: PreEscaped<&str>) -> Markup {
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

/// "just now", "3 min ago", ..., "4 Mar 2026" (no markup in it).
fn write_relative(out: &mut String, at: DateTime<Utc>, now: DateTime<Utc>) {
    use std::fmt::Write;
    let secs = (now - at).num_seconds().max(0);
    let _ = match secs {
        0..=44 => out.write_str("just now"),
        45..=3599 => write!(out, "{} min ago", (secs / 60).max(1)),
        3600..=86_399 => write!(out, "{} h ago", secs / 3600),
        86_400..=2_591_999 => write!(out, "{} d ago", secs / 86_400),
        _ => {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            write!(
                out,
                "{} {} {}",
                at.day(),
                MONTHS[at.month0() as usize],
                at.year()
            )
        }
    };
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
    card_markup(
        post,
        time_ago(&post.created_at, now),
        actions_markup(post, controls, controls.hidden()),
    )
}

/// The post's article around two parts the caller renders: its time and
/// the content of its actions bar.
fn card_markup(post: &Post, time: Markup, actions: Markup) -> Markup {
    html! {
        article.post {
            (avatar(&post.author, 40))
            div.body {
                p.meta {
                    a.author href={ "/u/" (enc(&post.author)) } { (post.author) }
                    @if post.repost_of.is_some() { " reposted" }
                    " · "
                    a href={ "/p/" (post.id) } { (time) }
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
                div.actions { (actions) }
            }
        }
    }
}

/// What the actions bar of a post holds for this viewer; `hidden` is the
/// page's hidden form fields (escaped).
fn actions_markup(post: &Post, controls: &PostControls<'_>, hidden: PreEscaped<&str>) -> Markup {
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
        @if controls.me.is_some() {
            form.inline method="post" action={ "/p/" (post.id) } {
                (hidden)
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

/// Slots left in a card's HTML for what each request fills in. User
/// content cannot make them: every `<` it holds is escaped.
const TIME_SLOT: &str = "<!--rk:time-->";
const ACTIONS_SLOT: &str = "<!--rk:actions-->";
const HIDDEN_SLOT: &str = "<!--rk:hidden-->";

/// A piece of a card's HTML: written as is, or filled per request.
enum Piece {
    Fixed(String),
    Time,
    Actions,
    Hidden,
}

fn pieces(html: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(5);
    let mut rest = html;
    while let Some(i) = rest.find("<!--rk:") {
        let (slot, len) = [
            (Piece::Time, TIME_SLOT),
            (Piece::Actions, ACTIONS_SLOT),
            (Piece::Hidden, HIDDEN_SLOT),
        ]
        .into_iter()
        .find(|(_, marker)| rest[i..].starts_with(marker))
        .map(|(piece, marker)| (piece, marker.len()))
        .unwrap_or((Piece::Fixed("<!--rk:".into()), "<!--rk:".len()));
        if i > 0 {
            out.push(Piece::Fixed(rest[..i].to_string()));
        }
        out.push(slot);
        rest = &rest[i + len..];
    }
    if !rest.is_empty() {
        out.push(Piece::Fixed(rest.to_string()));
    }
    out
}

/// Whose controls a post shows: a visitor's (none to act with), a
/// member's, or its author's.
fn viewer_of(post: &Post, controls: &PostControls<'_>) -> usize {
    match controls.me {
        None => 0,
        Some(me) if me == post.author => 2,
        Some(_) => 1,
    }
}

/// A post rendered once for every page that lists it: the HTML around the
/// parts each request fills in (the relative time, the viewer's controls
/// with the page's hidden fields).
pub struct Card {
    /// The API's JSON of the post this card shows (empty when made from a
    /// parsed post): the memo hands the card out only for the same JSON.
    raw: Box<str>,
    pub post: Post,
    at: Option<DateTime<Utc>>,
    pieces: Vec<Piece>,
    /// The actions bar by [`viewer_of`], made when first asked for.
    actions: [std::sync::OnceLock<Vec<Piece>>; 3],
}

impl Card {
    pub fn new(post: Post) -> Self {
        Self::with_raw(post, Box::default())
    }

    fn with_raw(post: Post, raw: Box<str>) -> Self {
        let at = DateTime::parse_from_rfc3339(&post.created_at)
            .ok()
            .map(|at| at.with_timezone(&Utc));
        let time = match at {
            Some(at) => time_element(&post.created_at, at, PreEscaped(TIME_SLOT)),
            None => html! { (post.created_at) },
        };
        let html = card_markup(&post, time, PreEscaped(ACTIONS_SLOT.to_string())).into_string();
        Self {
            raw,
            at,
            pieces: pieces(&html),
            post,
            actions: Default::default(),
        }
    }

    /// The card for `controls`' viewer at `now`. A viewer's own vote (the
    /// post's page) is not part of the memo: those controls are made anew.
    pub fn render_to(&self, out: &mut String, now: DateTime<Utc>, controls: &PostControls<'_>) {
        for piece in &self.pieces {
            match piece {
                Piece::Fixed(html) => out.push_str(html),
                Piece::Time => {
                    if let Some(at) = self.at {
                        write_relative(out, at, now);
                    }
                }
                Piece::Actions if controls.my_vote.is_some() => {
                    let markup = actions_markup(&self.post, controls, controls.hidden());
                    out.push_str(&markup.into_string());
                }
                Piece::Actions => {
                    let actions = self.actions[viewer_of(&self.post, controls)].get_or_init(|| {
                        pieces(
                            &actions_markup(&self.post, controls, PreEscaped(HIDDEN_SLOT))
                                .into_string(),
                        )
                    });
                    for piece in actions {
                        match piece {
                            Piece::Fixed(html) => out.push_str(html),
                            Piece::Hidden => out.push_str(controls.hidden().0),
                            Piece::Time | Piece::Actions => {}
                        }
                    }
                }
                Piece::Hidden => {}
            }
        }
    }
}

/// Cards by post id, each handed out while the API's JSON of its post is
/// byte for byte the one it was made from (an edit, a vote or a reply
/// changes the JSON, so the card is made again); and whole pages of cards
/// by viewer and API path, handed out while the API's answer is byte for
/// byte the same (a home page reloaded before anything on it changed is
/// neither parsed nor looked up post by post).
pub struct Cards {
    memo: quick_cache::sync::Cache<i64, Arc<Card>>,
    pages: quick_cache::sync::Cache<String, Arc<CardPage>>,
}

/// Posts whose cards are kept (a few MB: about 2 KB each).
const CARDS_KEPT: usize = 5_000;
/// Pages of cards kept (each holds the API's answer, about 12 KB for 20 posts).
const PAGES_KEPT: usize = 1_000;

/// A page of posts from the API, as cards.
pub struct CardPage {
    /// The API's answer the page was made from.
    body: bytes::Bytes,
    pub cards: Vec<Arc<Card>>,
    pub next_cursor: Option<String>,
}

impl Default for Cards {
    fn default() -> Self {
        Self {
            memo: quick_cache::sync::Cache::new(CARDS_KEPT),
            pages: quick_cache::sync::Cache::new(PAGES_KEPT),
        }
    }
}

impl Cards {
    /// The API's page of posts (`{"items": [...], "next_cursor": ...}`)
    /// that `viewer` got from `path`, as cards.
    pub fn page(
        &self,
        viewer: &str,
        path: &str,
        body: bytes::Bytes,
    ) -> Result<Arc<CardPage>, serde_json::Error> {
        let key = format!("{viewer}\n{path}");
        if let Some(page) = self.pages.get(key.as_str())
            && page.body == body
        {
            return Ok(page);
        }
        #[derive(serde::Deserialize)]
        struct RawPage<'a> {
            #[serde(borrow)]
            items: Vec<&'a serde_json::value::RawValue>,
            #[serde(default)]
            next_cursor: Option<String>,
        }
        let raw: RawPage<'_> = serde_json::from_slice(&body)?;
        let cards = raw
            .items
            .into_iter()
            .map(|item| self.card(item.get()))
            .collect::<Result<_, _>>()?;
        let next_cursor = raw.next_cursor;
        let page = Arc::new(CardPage {
            body,
            cards,
            next_cursor,
        });
        self.pages.insert(key, page.clone());
        Ok(page)
    }

    fn card(&self, raw: &str) -> Result<Arc<Card>, serde_json::Error> {
        let key = leading_id(raw);
        if let Some(key) = key
            && let Some(card) = self.memo.get(&key)
            && *card.raw == *raw
        {
            return Ok(card);
        }
        let card = Arc::new(Card::with_raw(serde_json::from_str(raw)?, raw.into()));
        if let Some(key) = key {
            self.memo.insert(key, card.clone());
        }
        Ok(card)
    }
}

/// The id of a post's JSON that starts with it (the API writes `id`
/// first); other JSON is parsed every time.
fn leading_id(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix("{\"id\":\"")?;
    let end = digits.find('"')?;
    digits[..end].parse().ok()
}

/// A list of posts with its "More" link (loaded in place by the script).
pub fn post_list(
    list_id: &str,
    cards: &[Arc<Card>],
    more: Option<String>,
    now: DateTime<Utc>,
    controls: &PostControls<'_>,
) -> Markup {
    let mut items = String::with_capacity(cards.len() * 1_400);
    for card in cards {
        items.push_str("<li>");
        card.render_to(&mut items, now, controls);
        items.push_str("</li>");
    }
    html! {
        ol.feed id=(list_id) { (PreEscaped(items)) }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn post_json(score: i64, text: &str) -> String {
        serde_json::json!({
            "id": "42", "author": "ana", "text": text, "title": null,
            "community": null, "url": "https://example.com/?a=1&b=<2>",
            "created_at": "2026-12-01T10:00:00.000Z", "edited_at": null,
            "in_reply_to": null, "repost_of": null, "reply_count": 1,
            "repost_count": 0, "upvotes": score, "downvotes": 0, "score": score,
            "tags": [], "mentions": []
        })
        .to_string()
    }

    fn listed(cards: &Cards, viewer: &str, json: &str, controls: &PostControls<'_>) -> String {
        let body = format!("{{\"items\":[{json}],\"next_cursor\":null}}");
        let page = cards.page(viewer, "/p", body.into()).unwrap();
        let mut out = String::new();
        page.cards[0].render_to(&mut out, now(), controls);
        out
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:05:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_remembered_card_renders_as_the_card_made_afresh_for_every_viewer() {
        let cards = Cards::default();
        // Hostile text: the slots' markers in it stay escaped text.
        let json = post_json(3, "<!--rk:hidden--> @bob #tag <b>x</b>");
        let post: Post = serde_json::from_str(&json).unwrap();
        for me in [None, Some("bob"), Some("ana")] {
            let controls = PostControls::new(me, "tok&en", "/?x=\"1\"");
            let fresh = post_card(&post, now(), &controls).into_string();
            for _ in 0..2 {
                assert_eq!(listed(&cards, me.unwrap_or(""), &json, &controls), fresh);
            }
            assert!(!fresh.contains("<!--rk:"), "{fresh}");
        }
        // The viewer's own vote is never taken from the memo.
        let mut controls = PostControls::new(Some("bob"), "t", "/");
        controls.my_vote = Some(Some("up"));
        let fresh = post_card(&post, now(), &controls).into_string();
        assert!(fresh.contains("aria-pressed=\"true\""));
        assert_eq!(listed(&cards, "bob", &json, &controls), fresh);
    }

    #[test]
    fn a_changed_post_gets_a_new_card() {
        let cards = Cards::default();
        let controls = PostControls::new(None, "", "/");
        let before = listed(&cards, "", &post_json(3, "hello"), &controls);
        let after = listed(&cards, "", &post_json(4, "hello"), &controls);
        assert!(before.contains(">3<"), "{before}");
        assert!(after.contains(">4<"), "{after}");
        assert!(!after.contains(">3<"), "{after}");
    }
}
