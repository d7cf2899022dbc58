//! Mastodon's entities (docs.joinmastodon.org, 4.3) built from Rookery's:
//! every documented field present, null or empty where Rookery has nothing.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::native;

/// RFC 3339 with milliseconds and `Z`, as Mastodon writes it.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A native timestamp in Mastodon's form (unparsable ones are kept).
pub fn mastodon_time(native: &str) -> String {
    DateTime::parse_from_rfc3339(native)
        .map(|t| timestamp(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| native.to_string())
}

/// Where the pages of people and posts are (the web client's origin).
#[derive(Debug, Clone)]
pub struct Links {
    pub web: String,
    /// This API's own origin (as the client reached it).
    pub api: String,
}

impl Links {
    pub fn account_url(&self, username: &str) -> String {
        format!("{}/u/{username}", self.web)
    }
    pub fn status_url(&self, id: &str) -> String {
        format!("{}/p/{id}", self.web)
    }
    pub fn avatar(&self, username: &str) -> String {
        format!("{}/avatar/{username}.svg", self.web)
    }
    pub fn header(&self) -> String {
        format!("{}/headers/original/missing.png", self.api)
    }
    pub fn tag_url(&self, tag: &str) -> String {
        format!("{}/search?q=%23{tag}", self.web)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub verified_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub acct: String,
    pub url: String,
    pub uri: String,
    pub display_name: String,
    pub note: String,
    pub avatar: String,
    pub avatar_static: String,
    pub avatar_description: String,
    pub header: String,
    pub header_static: String,
    pub header_description: String,
    pub locked: bool,
    pub fields: Vec<Field>,
    pub emojis: Vec<serde_json::Value>,
    pub bot: bool,
    pub group: bool,
    pub discoverable: bool,
    pub indexable: bool,
    pub noindex: bool,
    pub hide_collections: bool,
    pub moved: Option<serde_json::Value>,
    pub suspended: bool,
    pub limited: bool,
    pub memorial: bool,
    pub roles: Vec<serde_json::Value>,
    pub created_at: String,
    pub last_status_at: Option<String>,
    pub statuses_count: i64,
    pub followers_count: i64,
    pub following_count: i64,
    /// Rookery's extras: karma.
    pub rookery: AccountExtras,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountExtras {
    pub karma: i64,
}

impl Account {
    pub fn from_user(user: &native::User, links: &Links) -> Self {
        let name = &user.username;
        Self {
            id: name.clone(),
            username: name.clone(),
            acct: name.clone(),
            url: links.account_url(name),
            uri: links.account_url(name),
            display_name: name.clone(),
            note: paragraphs_plain(&user.bio),
            avatar: links.avatar(name),
            avatar_static: links.avatar(name),
            avatar_description: String::new(),
            header: links.header(),
            header_static: links.header(),
            header_description: String::new(),
            locked: false,
            fields: Vec::new(),
            emojis: Vec::new(),
            bot: false,
            group: false,
            discoverable: true,
            indexable: true,
            noindex: false,
            hide_collections: false,
            moved: None,
            suspended: false,
            limited: false,
            memorial: false,
            roles: Vec::new(),
            created_at: mastodon_time(&user.created_at),
            last_status_at: None,
            statuses_count: 0,
            followers_count: user.followers_count,
            following_count: user.following_count,
            rookery: AccountExtras { karma: user.karma },
        }
    }

    /// An account known only by name (it was deactivated, or its view could
    /// not be had): what a status still needs to show its author.
    pub fn from_name(username: &str, links: &Links) -> Self {
        Self::from_user(
            &native::User {
                username: username.to_string(),
                bio: String::new(),
                karma: 0,
                created_at: "1970-01-01T00:00:00.000Z".into(),
                followers_count: 0,
                following_count: 0,
                email: None,
            },
            links,
        )
    }
}

/// `verify_credentials` and `update_credentials`: the account plus its source.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialAccount {
    #[serde(flatten)]
    pub account: Account,
    pub source: Source,
    pub role: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub note: String,
    pub fields: Vec<Field>,
    pub privacy: &'static str,
    pub sensitive: bool,
    pub language: Option<String>,
    pub follow_requests_count: i64,
    pub hide_collections: bool,
    pub discoverable: bool,
    pub indexable: bool,
    pub attribution_domains: Vec<String>,
}

impl CredentialAccount {
    pub fn from_user(user: &native::User, links: &Links) -> Self {
        Self {
            account: Account::from_user(user, links),
            source: Source {
                note: user.bio.clone(),
                fields: Vec::new(),
                privacy: "public",
                sensitive: false,
                language: None,
                follow_requests_count: 0,
                hide_collections: false,
                discoverable: true,
                indexable: true,
                attribution_domains: Vec::new(),
            },
            role: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Mention {
    pub id: String,
    pub username: String,
    pub url: String,
    pub acct: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    pub name: String,
    pub url: String,
    pub history: Vec<TagHistory>,
    pub following: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagHistory {
    pub day: String,
    pub uses: String,
    pub accounts: String,
}

impl Tag {
    pub fn new(name: &str, links: &Links) -> Self {
        Self {
            name: name.to_string(),
            url: links.tag_url(name),
            history: Vec::new(),
            following: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PollOptionEntity {
    pub title: String,
    pub votes_count: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Poll {
    pub id: String,
    pub expires_at: Option<String>,
    pub expired: bool,
    pub multiple: bool,
    pub votes_count: i64,
    pub voters_count: Option<i64>,
    pub options: Vec<PollOptionEntity>,
    pub emojis: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_votes: Option<Vec<i64>>,
}

impl Poll {
    /// `signed_in`: the caller has an account (then `voted` and
    /// `own_votes` are present, as Mastodon sends them).
    pub fn from_native(poll: &native::Poll, signed_in: bool) -> Self {
        Self {
            id: poll.id.clone(),
            expires_at: None,
            expired: false,
            multiple: false,
            votes_count: poll.total_votes,
            // One choice per voter: voters and votes are the same count.
            voters_count: Some(poll.total_votes),
            options: poll
                .options
                .iter()
                .map(|o| PollOptionEntity {
                    title: o.text.clone(),
                    votes_count: Some(o.votes),
                })
                .collect(),
            emojis: Vec::new(),
            voted: signed_in.then_some(poll.my_choice.is_some()),
            own_votes: signed_in.then(|| poll.my_choice.into_iter().collect()),
        }
    }
}

/// Rookery's extras on a status (downvotes, score, community posts).
#[derive(Debug, Clone, Serialize)]
pub struct StatusExtras {
    pub upvotes: i64,
    pub downvotes: i64,
    pub score: i64,
    pub community: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    /// Set on direct statuses: the direct message this status is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: String,
    pub uri: String,
    pub url: Option<String>,
    pub created_at: String,
    pub account: Account,
    pub content: String,
    pub visibility: &'static str,
    pub sensitive: bool,
    pub spoiler_text: String,
    pub media_attachments: Vec<serde_json::Value>,
    pub application: Option<serde_json::Value>,
    pub mentions: Vec<Mention>,
    pub tags: Vec<Tag>,
    pub emojis: Vec<serde_json::Value>,
    pub reblogs_count: i64,
    pub favourites_count: i64,
    pub replies_count: i64,
    pub quotes_count: i64,
    pub in_reply_to_id: Option<String>,
    pub in_reply_to_account_id: Option<String>,
    pub poll: Option<Poll>,
    pub card: Option<serde_json::Value>,
    pub language: Option<String>,
    pub text: Option<String>,
    pub edited_at: Option<String>,
    pub quote: Option<serde_json::Value>,
    pub filtered: Vec<serde_json::Value>,
    pub rookery: StatusExtras,
    /// `reblog` and the caller's state are written last, in this order:
    /// pages splice them onto a status written once for every caller
    /// (`render::StatusMemo`).
    pub reblog: Option<Box<Status>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub favourited: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reblogged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bookmarked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
}

/// What the caller's own relation to a status is (None: anonymous).
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewerState {
    pub signed_in: bool,
    pub favourited: bool,
    pub reblogged: bool,
}

impl Status {
    /// A post as a status. `parent_author`: the author of the post it
    /// replies to, if known; `reblog`: the original, for a repost.
    pub fn from_post(
        post: &native::Post,
        account: Account,
        parent_author: Option<String>,
        reblog: Option<Status>,
        poll: Option<Poll>,
        viewer: ViewerState,
        links: &Links,
    ) -> Self {
        let mentioned: Vec<Mention> = post
            .mentions
            .iter()
            .map(|name| Mention {
                id: name.clone(),
                username: name.clone(),
                url: links.account_url(name),
                acct: name.clone(),
            })
            .collect();
        let mut tags: Vec<Tag> = post.tags.iter().map(|t| Tag::new(t, links)).collect();
        if let Some(community) = &post.community
            && !post.tags.iter().any(|t| t == community)
        {
            tags.push(Tag::new(community, links));
        }
        let content = if reblog.is_some() {
            String::new()
        } else {
            render_content(post, links)
        };
        let signed = viewer.signed_in;
        Self {
            id: post.id.clone(),
            uri: links.status_url(&post.id),
            url: Some(links.status_url(&post.id)),
            created_at: mastodon_time(&post.created_at),
            account,
            content,
            visibility: "public",
            sensitive: false,
            spoiler_text: String::new(),
            media_attachments: Vec::new(),
            application: None,
            mentions: mentioned,
            tags,
            emojis: Vec::new(),
            reblogs_count: post.repost_count,
            favourites_count: post.upvotes,
            replies_count: post.reply_count,
            quotes_count: 0,
            in_reply_to_id: post.in_reply_to.clone(),
            in_reply_to_account_id: post.in_reply_to.as_ref().and(parent_author),
            reblog: reblog.map(Box::new),
            poll,
            card: None,
            language: None,
            text: None,
            edited_at: post.edited_at.as_deref().map(mastodon_time),
            quote: None,
            filtered: Vec::new(),
            favourited: signed.then_some(viewer.favourited),
            reblogged: signed.then_some(viewer.reblogged),
            muted: signed.then_some(false),
            bookmarked: signed.then_some(false),
            pinned: signed.then_some(false),
            rookery: StatusExtras {
                upvotes: post.upvotes,
                downvotes: post.downvotes,
                score: post.score,
                community: post.community.clone(),
                title: post.title.clone(),
                url: post.url.clone(),
                message_id: None,
            },
        }
    }

    /// A direct message as a `direct` status from its sender, mentioning
    /// the recipient.
    pub fn from_message(message: &native::Message, sender: Account, links: &Links) -> Self {
        let recipient = Mention {
            id: message.to.clone(),
            username: message.to.clone(),
            url: links.account_url(&message.to),
            acct: message.to.clone(),
        };
        let mentions: HashSet<String> = [message.to.to_lowercase()].into();
        Self {
            id: message.id.clone(),
            uri: format!("{}/messages/{}", links.web, message.id),
            url: Some(format!("{}/messages/{}", links.web, message.id)),
            created_at: mastodon_time(&message.created_at),
            account: sender,
            content: format!(
                "<p>{}</p>",
                render_text(&message.text, &mentions, &HashSet::new(), links)
            ),
            visibility: "direct",
            sensitive: false,
            spoiler_text: String::new(),
            media_attachments: Vec::new(),
            application: None,
            mentions: vec![recipient],
            tags: Vec::new(),
            emojis: Vec::new(),
            reblogs_count: 0,
            favourites_count: 0,
            replies_count: 0,
            quotes_count: 0,
            in_reply_to_id: message.in_reply_to.clone(),
            in_reply_to_account_id: None,
            reblog: None,
            poll: None,
            card: None,
            language: None,
            text: None,
            edited_at: None,
            quote: None,
            filtered: Vec::new(),
            favourited: Some(false),
            reblogged: Some(false),
            muted: Some(false),
            bookmarked: Some(false),
            pinned: Some(false),
            rookery: StatusExtras {
                upvotes: 0,
                downvotes: 0,
                score: 0,
                community: None,
                title: None,
                url: None,
                message_id: Some(message.id.clone()),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Relationship {
    pub id: String,
    pub following: bool,
    pub showing_reblogs: bool,
    pub notifying: bool,
    pub languages: Vec<String>,
    pub followed_by: bool,
    pub blocking: bool,
    pub blocked_by: bool,
    pub muting: bool,
    pub muting_notifications: bool,
    pub muting_expires_at: Option<String>,
    pub requested: bool,
    pub requested_by: bool,
    pub domain_blocking: bool,
    pub endorsed: bool,
    pub note: String,
}

impl Relationship {
    pub fn new(id: &str, following: bool, followed_by: bool, blocking: bool, muting: bool) -> Self {
        Self {
            id: id.to_string(),
            following,
            showing_reblogs: following,
            notifying: false,
            languages: Vec::new(),
            followed_by,
            blocking,
            // Blocks are private to the one who made them.
            blocked_by: false,
            muting,
            muting_notifications: muting,
            muting_expires_at: None,
            requested: false,
            requested_by: false,
            domain_blocking: false,
            endorsed: false,
            note: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub group_key: String,
    pub created_at: String,
    pub account: Account,
    pub status: Option<Status>,
    pub report: Option<serde_json::Value>,
    pub event: Option<serde_json::Value>,
    pub moderation_warning: Option<serde_json::Value>,
}

/// Rookery's notification type as Mastodon's (a reply and a direct message
/// are mentions to Mastodon).
pub fn mastodon_type(native: &str) -> Option<&'static str> {
    Some(match native {
        "follow" => "follow",
        "like" => "favourite",
        "repost" => "reblog",
        "mention" | "reply" | "message" => "mention",
        _ => return None,
    })
}

/// Mastodon's notification types as Rookery's.
pub fn native_types(mastodon: &str) -> &'static [&'static str] {
    match mastodon {
        "follow" => &["follow"],
        "favourite" => &["like"],
        "reblog" => &["repost"],
        "mention" => &["mention", "reply", "message"],
        _ => &[],
    }
}

pub const NATIVE_TYPES: &[&str] = &["follow", "like", "repost", "mention", "reply", "message"];

#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    pub unread: bool,
    pub accounts: Vec<Account>,
    pub last_status: Option<Status>,
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// One character as HTML text or attribute value.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// Plain text as paragraphs (blank lines) with line breaks, escaped.
fn paragraphs_plain(text: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape(p.trim()).replace('\n', "<br>")))
        .collect()
}

/// A post's `content`: micro-posts as their text; community posts as the
/// title, the link and the text.
pub fn render_content(post: &native::Post, links: &Links) -> String {
    let mentions: HashSet<String> = post.mentions.iter().map(|m| m.to_lowercase()).collect();
    let tags: HashSet<String> = post.tags.iter().map(|t| t.to_lowercase()).collect();
    let mut html = String::new();
    if let Some(title) = &post.title {
        html.push_str("<p><strong>");
        html.push_str(&render_text(title, &mentions, &tags, links));
        html.push_str("</strong></p>");
    }
    if let Some(url) = &post.url {
        let url = escape(url);
        html.push_str(&format!(
            "<p><a href=\"{url}\" rel=\"nofollow noopener\" target=\"_blank\">{url}</a></p>"
        ));
    }
    if let Some(text) = &post.text {
        for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
            html.push_str("<p>");
            html.push_str(
                &render_text(paragraph.trim(), &mentions, &tags, links).replace('\n', "<br>"),
            );
            html.push_str("</p>");
        }
    }
    html
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Escaped text with links for URLs, the post's mentions and its tags.
pub fn render_text(
    text: &str,
    mentions: &HashSet<String>,
    tags: &HashSet<String>,
    links: &Links,
) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut prev: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let boundary = prev.is_none_or(|p| !is_word(p) && p != '/' && p != '@' && p != '#');
        if boundary && (rest.starts_with("https://") || rest.starts_with("http://")) {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let mut url = &rest[..end];
            url = url.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
            let url_html = escape(url);
            out.push_str(&format!(
                "<a href=\"{url_html}\" rel=\"nofollow noopener\" target=\"_blank\">{url_html}</a>"
            ));
            prev = url.chars().last();
            rest = &rest[url.len()..];
            continue;
        }
        if boundary && (c == '@' || c == '#') {
            let word: String = rest[1..]
                .chars()
                .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                .collect();
            let key = word.to_lowercase();
            if !word.is_empty() && c == '@' && mentions.contains(&key) {
                out.push_str(&format!(
                    "<span class=\"h-card\"><a href=\"{}\" class=\"u-url mention\">@<span>{}</span></a></span>",
                    escape(&links.account_url(&word)),
                    escape(&word)
                ));
                rest = &rest[1 + word.len()..];
                prev = word.chars().last();
                continue;
            }
            if !word.is_empty() && c == '#' && tags.contains(&key) {
                out.push_str(&format!(
                    "<a href=\"{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
                    escape(&links.tag_url(&key)),
                    escape(&word)
                ));
                rest = &rest[1 + word.len()..];
                prev = word.chars().last();
                continue;
            }
        }
        push_escaped(&mut out, c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links {
            web: "http://w".into(),
            api: "http://m".into(),
        }
    }

    #[test]
    fn content_escapes_and_links() {
        let mentions: HashSet<String> = ["bob".to_string()].into();
        let tags: HashSet<String> = ["rust".to_string()].into();
        let html = render_text(
            "hi @Bob & @nobody <script> #Rust see https://x.y/a?b=1&c=2. mail a@bob",
            &mentions,
            &tags,
            &links(),
        );
        assert!(
            html.contains(
                "<a href=\"http://w/u/Bob\" class=\"u-url mention\">@<span>Bob</span></a>"
            )
        );
        assert!(html.contains("@nobody"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("#<span>Rust</span>"));
        assert!(html.contains("href=\"https://x.y/a?b=1&amp;c=2\""));
        assert!(html.ends_with("mail a@bob"), "{html}");
    }

    #[test]
    fn times_have_milliseconds_and_z() {
        assert_eq!(
            mastodon_time("2026-12-01T10:00:00+00:00"),
            "2026-12-01T10:00:00.000Z"
        );
        assert_eq!(
            mastodon_time("2026-12-01T10:00:00.123456Z"),
            "2026-12-01T10:00:00.123Z"
        );
    }
}
