//! Pages of statuses: everything a page shows (originals of reposts, authors,
//! the caller's favourites and reblogs, polls) in a fixed number of batch
//! calls, whatever the page's length.

use std::collections::HashMap;

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

/// `fresh`: `posts` is one post just created, with this poll or none.
async fn render(
    ctx: &Ctx,
    posts: &[Post],
    full: bool,
    fresh: Option<Option<&native::Poll>>,
) -> MastoResult<Vec<Status>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let links = links(ctx);
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
        .map(|p| match &p.repost_of {
            Some(o) => fetched.get(&o.id).unwrap_or(p),
            None => fetched.get(&p.id).filter(|_| !full).unwrap_or(p),
        })
        .collect();
    let mut authors: Vec<String> = posts.iter().map(|p| p.author.clone()).collect();
    authors.extend(shown.iter().map(|p| p.author.clone()));
    let shown_ids: Vec<String> = shown.iter().map(|p| p.id.clone()).collect();
    // An account token (not an app's): its views carry favourited/reblogged.
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
    let reposts = async {
        if viewer_state {
            native::my_reposts(ctx, &shown_ids).await
        } else {
            Ok(HashMap::new())
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

    let account = |name: &str| match users.get(&name.to_lowercase()) {
        Some(u) => Account::from_user(u, &links),
        None => Account::from_name(name, &links),
    };
    let parent_author = |post: &Post| {
        post.in_reply_to
            .as_ref()
            .and_then(|id| fetched.get(id))
            .map(|parent| parent.author.clone())
    };
    let status_of = |post: &Post| {
        let viewer = ViewerState {
            signed_in,
            favourited: votes.get(&post.id).is_some_and(|v| v == "up"),
            reblogged: reposts.contains_key(&post.id),
        };
        let poll = polls.get(&post.id).map(|p| Poll::from_native(p, signed_in));
        Status::from_post(
            post,
            account(&post.author),
            parent_author(post),
            None,
            poll,
            viewer,
            &links,
        )
    };
    Ok(posts
        .iter()
        .zip(shown)
        .map(|(post, shown)| {
            if post.repost_of.is_some() {
                let original = status_of(shown);
                let viewer = ViewerState {
                    signed_in,
                    favourited: original.favourited.unwrap_or(false),
                    reblogged: original.reblogged.unwrap_or(false),
                };
                let mut wrapper = Status::from_post(
                    post,
                    account(&post.author),
                    None,
                    Some(original),
                    None,
                    viewer,
                    &links,
                );
                wrapper.reblogs_count = 0;
                wrapper
            } else {
                status_of(shown)
            }
        })
        .collect())
}

/// One status.
pub async fn status(ctx: &Ctx, post: &Post) -> MastoResult<Status> {
    let mut list = statuses(ctx, std::slice::from_ref(post), true).await?;
    Ok(list.remove(0))
}
