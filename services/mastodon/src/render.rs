//! Pages of statuses: everything a page shows (originals of reposts, authors,
//! the caller's favourites and reblogs, polls) in a fixed number of batch
//! calls, whatever the page's length.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::try_join_all;

use crate::ctx::Ctx;
use crate::entities::{Account, Links, Poll, Status, ViewerState};
use crate::error::MastoResult;
use crate::native::{self, Post};

pub fn links(ctx: &Ctx) -> Links {
    Links {
        web: ctx.svc.config.web_url.clone(),
        api: ctx.origin.clone(),
    }
}

/// The statuses of `posts`, in their order. `full`: the posts are full
/// objects already (a single GET), not list items.
pub async fn statuses(ctx: &Ctx, posts: &[Post], full: bool) -> MastoResult<Vec<Status>> {
    render(ctx, posts, full, None).await
}

/// The status of a post the caller has just created (not an idempotent
/// replay of an older one): nobody can have favourited or reblogged it yet
/// and its only poll is `poll`, made with it, so none of that is read again.
pub async fn new_status(
    ctx: &Ctx,
    post: &Post,
    poll: Option<&native::Poll>,
) -> MastoResult<Status> {
    let mut list = render(ctx, std::slice::from_ref(post), true, Some(poll)).await?;
    Ok(list.remove(0))
}

/// Everything a page of statuses shows besides the posts themselves.
struct Gathered {
    links: Links,
    /// An account token (not an app's): its views carry favourited/reblogged.
    signed_in: bool,
    /// Originals of reposts, parents, community posts in full.
    fetched: HashMap<String, Post>,
    /// Authors by lowercased username.
    users: HashMap<String, native::User>,
    votes: HashMap<String, String>,
    reposts: HashMap<String, String>,
    polls: HashMap<String, native::Poll>,
}

/// `fresh`: `posts` is one post just created, with this poll or none.
/// `just_read`: `posts` were read for this request (their counts are current).
async fn gather(
    ctx: &Ctx,
    posts: &[Post],
    full: bool,
    fresh: Option<Option<&native::Poll>>,
    just_read: bool,
) -> MastoResult<Gathered> {
    // Posts to fetch whole: originals of reposts, parents (for their
    // authors), and community posts (list items leave out text and link).
    let mut wanted: Vec<String> = Vec::new();
    for p in posts {
        if let Some(original) = &p.repost_of {
            wanted.push(original.id.clone());
        }
        if let Some(parent) = &p.in_reply_to {
            wanted.push(parent.clone());
        }
        if !full && p.title.is_some() {
            wanted.push(p.id.clone());
        }
    }
    let mut fetched = if wanted.is_empty() {
        HashMap::new()
    } else {
        native::posts_by_ids(ctx, &wanted).await?
    };
    // The parents of originals matter too (for in_reply_to_account_id).
    let grandparents: Vec<String> = posts
        .iter()
        .filter_map(|p| p.repost_of.as_ref())
        .filter_map(|o| fetched.get(&o.id)?.in_reply_to.clone())
        .filter(|id| !fetched.contains_key(id))
        .collect();
    if !grandparents.is_empty() {
        fetched.extend(native::posts_by_ids(ctx, &grandparents).await?);
    }
    let shown: Vec<&Post> = posts
        .iter()
        .map(|p| shown_post(&fetched, p, full))
        .collect();
    let mut authors: Vec<String> = posts.iter().map(|p| p.author.clone()).collect();
    authors.extend(shown.iter().map(|p| p.author.clone()));
    let shown_ids: Vec<String> = shown.iter().map(|p| p.id.clone()).collect();
    let signed_in = ctx.token.as_ref().is_some_and(|t| !t.app);
    let post_ids: Vec<i64> = shown.iter().map(|p| p.id_num()).collect();

    let users = native::users_by_names(ctx, &authors);
    // The caller's state of each post shown, unless the post is new.
    let viewer_state = signed_in && fresh.is_none();
    let votes = async {
        if viewer_state {
            native::my_votes(ctx, &shown_ids).await
        } else {
            Ok(HashMap::new())
        }
    };
    // A post no one reposted (its count moves in the same transaction as
    // the reposts) is not the caller's repost either: for posts just read
    // (a page's), only the others are asked about.
    let reposts = async {
        let reposted: Vec<String> = shown
            .iter()
            .filter(|p| viewer_state && (!just_read || p.repost_count > 0))
            .map(|p| p.id.clone())
            .collect();
        if reposted.is_empty() {
            Ok(HashMap::new())
        } else {
            native::my_reposts(ctx, &reposted).await
        }
    };
    let polls = async {
        if let Some(poll) = fresh {
            let known = poll.map(|p| (posts[0].id.clone(), p.clone()));
            return Ok(known.into_iter().collect());
        }
        let links = ctx.svc.polls_of(&post_ids).await?;
        let fetched = try_join_all(links.iter().map(|(post, poll)| async move {
            let found: MastoResult<native::Poll> = ctx.get(&format!("/api/v1/polls/{poll}")).await;
            Ok::<_, crate::error::MastoError>(found.ok().map(|p| (post.to_string(), p)))
        }))
        .await?;
        Ok::<_, crate::error::MastoError>(fetched.into_iter().flatten().collect::<HashMap<_, _>>())
    };
    let (users, votes, reposts, polls) = tokio::try_join!(users, votes, reposts, polls)?;
    Ok(Gathered {
        links: links(ctx),
        signed_in,
        fetched,
        users,
        votes,
        reposts,
        polls,
    })
}

/// The post a status shows: a repost's original, a list item's full post.
fn shown_post<'a>(fetched: &'a HashMap<String, Post>, post: &'a Post, full: bool) -> &'a Post {
    match &post.repost_of {
        Some(o) => fetched.get(&o.id).unwrap_or(post),
        None => fetched.get(&post.id).filter(|_| !full).unwrap_or(post),
    }
}

impl Gathered {
    fn author(&self, name: &str) -> Option<&native::User> {
        self.users.get(&name.to_lowercase())
    }

    fn account(&self, name: &str) -> Account {
        match self.author(name) {
            Some(u) => Account::from_user(u, &self.links),
            None => Account::from_name(name, &self.links),
        }
    }

    fn parent_author(&self, post: &Post) -> Option<String> {
        post.in_reply_to
            .as_ref()
            .and_then(|id| self.fetched.get(id))
            .map(|parent| parent.author.clone())
    }

    fn viewer(&self, post: &Post) -> ViewerState {
        ViewerState {
            signed_in: self.signed_in,
            favourited: self.votes.get(&post.id).is_some_and(|v| v == "up"),
            reblogged: self.reposts.contains_key(&post.id),
        }
    }

    /// The status of a post that is not a repost, with `viewer`'s state.
    fn original(&self, post: &Post, viewer: ViewerState) -> Status {
        let poll = self
            .polls
            .get(&post.id)
            .map(|p| Poll::from_native(p, self.signed_in));
        Status::from_post(
            post,
            self.account(&post.author),
            self.parent_author(post),
            None,
            poll,
            viewer,
            &self.links,
        )
    }

    /// A repost's own status around its original's (`original`), without
    /// the original in it when that is `None`.
    fn wrapper(&self, post: &Post, original: Option<Status>, viewer: ViewerState) -> Status {
        let mut wrapper = Status::from_post(
            post,
            self.account(&post.author),
            None,
            original,
            None,
            viewer,
            &self.links,
        );
        wrapper.content = String::new();
        wrapper.reblogs_count = 0;
        wrapper
    }

    fn status(&self, post: &Post, shown: &Post) -> Status {
        if post.repost_of.is_none() {
            return self.original(shown, self.viewer(shown));
        }
        let viewer = self.viewer(shown);
        let original = self.original(shown, viewer);
        self.wrapper(post, Some(original), viewer)
    }

    /// The JSON of [`Self::status`], from the statuses `memo` wrote before
    /// where their post, author and origin are as they were.
    fn status_json(&self, memo: &StatusMemo, post: &Post, shown: &Post) -> MastoResult<String> {
        let viewer = self.viewer(shown);
        let mut out = String::with_capacity(4096);
        if post.repost_of.is_none() {
            self.original_json(memo, shown, viewer, &mut out)?;
            return Ok(out);
        }
        // A repost: its own part, the original as its `reblog`, and the
        // caller's state of the original again.
        let prefix = memo.prefix(post, self.author(&post.author), None, &self.links, || {
            self.wrapper(post, None, ViewerState::default())
        })?;
        out.push_str(&prefix.json);
        self.original_json(memo, shown, viewer, &mut out)?;
        push_viewer(&mut out, viewer);
        Ok(out)
    }

    fn original_json(
        &self,
        memo: &StatusMemo,
        post: &Post,
        viewer: ViewerState,
        out: &mut String,
    ) -> MastoResult<()> {
        if self.polls.contains_key(&post.id) {
            // A poll shows the caller's own votes: written for each caller.
            let status = self.original(post, viewer);
            out.push_str(&serde_json::to_string(&status).map_err(anyhow::Error::from)?);
            return Ok(());
        }
        let parent_author = self.parent_author(post);
        let prefix = memo.prefix(
            post,
            self.author(&post.author),
            parent_author.as_deref(),
            &self.links,
            || self.original(post, ViewerState::default()),
        )?;
        out.push_str(&prefix.json);
        out.push_str("null");
        push_viewer(out, viewer);
        Ok(())
    }
}

/// Closes a status written by [`StatusMemo::prefix`] (which ends with
/// `"reblog":` and its value) with the caller's own state.
fn push_viewer(out: &mut String, viewer: ViewerState) {
    if viewer.signed_in {
        out.push_str(if viewer.favourited {
            ",\"favourited\":true"
        } else {
            ",\"favourited\":false"
        });
        out.push_str(if viewer.reblogged {
            ",\"reblogged\":true"
        } else {
            ",\"reblogged\":false"
        });
        out.push_str(",\"muted\":false,\"bookmarked\":false,\"pinned\":false");
    }
    out.push('}');
}

async fn render(
    ctx: &Ctx,
    posts: &[Post],
    full: bool,
    fresh: Option<Option<&native::Poll>>,
) -> MastoResult<Vec<Status>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let page = gather(ctx, posts, full, fresh, false).await?;
    Ok(posts
        .iter()
        .map(|post| page.status(post, shown_post(&page.fetched, post, full)))
        .collect())
}

/// The statuses of `posts` as JSON, in their order: what [`statuses`]
/// gives, each status's caller-independent part written once per version
/// of its post and author. For pages: `posts` were read for this request.
pub async fn statuses_json(ctx: &Ctx, posts: &[Post], full: bool) -> MastoResult<Vec<String>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let page = gather(ctx, posts, full, None, true).await?;
    posts
        .iter()
        .map(|post| {
            page.status_json(
                &ctx.svc.written,
                post,
                shown_post(&page.fetched, post, full),
            )
        })
        .collect()
}

/// The part of a status that is the same for every caller, written once:
/// the JSON up to and including `"reblog":` (the caller's state and the
/// original of a repost follow, see [`push_viewer`]). An entry is used only
/// while everything it was written from is unchanged (compared on each
/// use, so no change anywhere needs to reach it); bounded by bytes.
pub struct StatusMemo {
    entries: quick_cache::sync::Cache<String, Arc<Written>, WrittenSize>,
}

/// At most this many bytes of written statuses.
const MEMO_BYTES: u64 = 32 << 20;

struct Written {
    post: Post,
    author: Option<native::User>,
    parent_author: Option<String>,
    origin: String,
    json: String,
}

#[derive(Clone)]
struct WrittenSize;

impl quick_cache::Weighter<String, Arc<Written>> for WrittenSize {
    fn weight(&self, key: &String, written: &Arc<Written>) -> u64 {
        // The JSON and about as much again for the post and author kept.
        (key.len() + 2 * written.json.len() + 256) as u64
    }
}

impl Default for StatusMemo {
    fn default() -> Self {
        Self {
            entries: quick_cache::sync::Cache::with_weighter(8192, MEMO_BYTES, WrittenSize),
        }
    }
}

impl StatusMemo {
    /// The caller-independent part of `post`'s status (`status()` writes
    /// it with no caller and no repost original in it).
    fn prefix(
        &self,
        post: &Post,
        author: Option<&native::User>,
        parent_author: Option<&str>,
        links: &Links,
        status: impl FnOnce() -> Status,
    ) -> MastoResult<Arc<Written>> {
        if let Some(written) = self.entries.get(&post.id)
            && written.post == *post
            && written.author.as_ref() == author
            && written.parent_author.as_deref() == parent_author
            && written.origin == links.api
        {
            return Ok(written);
        }
        let status = status();
        debug_assert!(status.reblog.is_none() && status.favourited.is_none());
        let mut json = serde_json::to_string(&status).map_err(anyhow::Error::from)?;
        // `reblog` is the last field written without a caller: keep its key.
        let Some(kept) = json.strip_suffix("null}").map(str::len) else {
            return Err(anyhow::anyhow!("a status did not end with its reblog").into());
        };
        json.truncate(kept);
        let written = Arc::new(Written {
            post: post.clone(),
            author: author.cloned(),
            parent_author: parent_author.map(str::to_owned),
            origin: links.api.clone(),
            json,
        });
        self.entries.insert(post.id.clone(), written.clone());
        Ok(written)
    }
}

/// One status.
pub async fn status(ctx: &Ctx, post: &Post) -> MastoResult<Status> {
    let mut list = statuses(ctx, std::slice::from_ref(post), true).await?;
    Ok(list.remove(0))
}
