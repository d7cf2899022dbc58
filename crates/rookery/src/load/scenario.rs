//! The steps of one simulated user's session, in the order they run. Every
//! answer is checked against API.md (status and the fields that matter);
//! a failed check is recorded with its reason and ends the step.

use std::sync::atomic::Ordering;

use goose::goose::GooseUser;
use rand::Rng;
use rand::seq::IndexedRandom;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Auth, Pending, PostRef, Reply, Req, Session, StepResult, check, send, source_address};

const COMMUNITIES: [&str; 4] = ["load_rust", "load_music", "load_news", "load_games"];
const SORTS: [&str; 4] = ["new", "hot", "top", "controversial"];

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn is_id(v: Option<&str>) -> bool {
    v.is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn id_num(item: &Value) -> u64 {
    item.get("id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn location_is(reply: &Reply, path: &str) -> bool {
    reply
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        == Some(path)
}

/// A post by someone else from the shared pool (any post if `others_only` is false).
fn pick_post(s: &mut Session, others_only: bool) -> Option<PostRef> {
    let pool = s.shared.posts.lock().ok()?;
    let candidates: Vec<&PostRef> = pool
        .items()
        .iter()
        .filter(|p| !others_only || p.author != s.name)
        .collect();
    candidates.choose(&mut s.rng).map(|p| (*p).clone())
}

fn pick_other_user(s: &mut Session) -> Option<String> {
    let users = s.shared.users.lock().ok()?;
    let others: Vec<&String> = users.iter().filter(|u| **u != s.name).collect();
    others.choose(&mut s.rng).map(|u| (*u).clone())
}

/// Reads up to `max_pages` pages of a list (`path` has a query already),
/// following `next_cursor` and checking the page shape and the `Link`
/// header; `item_ok` names what is wrong with an item, if anything.
/// Stops early once `stop` holds for an item.
#[allow(clippy::too_many_arguments)]
async fn pages(
    user: &mut GooseUser,
    s: &Session,
    route: &'static str,
    path: &str,
    auth: Auth,
    max_pages: usize,
    item_ok: impl Fn(&Value) -> Option<String>,
    stop: impl Fn(&Value) -> bool,
) -> Result<(Vec<Value>, Reply), Box<goose::goose::TransactionError>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut page = 0;
    loop {
        page += 1;
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={}", enc(c)),
            None => path.to_string(),
        };
        let mut reply = send(user, s, Req::get(route, url).auth(auth)).await?;
        let shape_ok = reply.body.get("items").is_some_and(Value::is_array)
            && reply
                .body
                .get("next_cursor")
                .is_some_and(|c| c.is_null() || c.is_string());
        check(user, s, shape_ok, &mut reply, || {
            "list without items/next_cursor".into()
        })?;
        let next = reply.str("next_cursor").map(String::from);
        let link = reply.headers.get(reqwest::header::LINK).is_some();
        check(user, s, link == next.is_some(), &mut reply, || {
            "Link header and next_cursor disagree".into()
        })?;
        let bad = reply.items().iter().find_map(&item_ok);
        if let Some(why) = bad {
            check(user, s, false, &mut reply, || why)?;
        }
        let found = reply.items().iter().any(&stop);
        all.extend(reply.items().iter().cloned());
        match next {
            Some(c) if !found && page < max_pages => cursor = Some(c),
            _ => return Ok((all, reply)),
        }
    }
}

/// Newest first: ids strictly decreasing across the pages read.
fn newest_first(items: &[Value]) -> bool {
    items.windows(2).all(|w| id_num(&w[0]) > id_num(&w[1]))
}

/// List items of community posts leave out `text` and `url` (API.md).
fn list_item_shape(item: &Value) -> Option<String> {
    if !is_id(item.get("id").and_then(Value::as_str)) {
        return Some("list item without a decimal id".into());
    }
    let titled = item.get("title").is_some_and(Value::is_string);
    if titled && (item.get("text").is_some() || item.get("url").is_some()) {
        return Some("community post list item includes text or url".into());
    }
    None
}

/// On start: the user's own HTTP client, then registration.
pub async fn setup(user: &mut GooseUser, s: &mut Session) -> StepResult {
    if s.shared.spread
        && let Some(ip) = source_address(user.base_url.as_str(), user.weighted_users_index)
    {
        let builder = reqwest::Client::builder()
            .local_address(ip)
            .timeout(std::time::Duration::from_secs(60));
        if let Err(e) = user.set_client_builder(builder).await {
            tracing::warn!(error = %e, "keeping the shared source address");
        }
    }
    s.shared.active.fetch_add(1, Ordering::Relaxed);
    register(user, s).await
}

async fn register(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let email = format!("{}@load.example.com", s.name);
    let req = Req::new(Method::POST, "POST /api/v1/users", "/api/v1/users".into()).json(json!({
        "username": s.name, "email": email, "password": s.password, "bio": "a simulated user",
    }));
    let mut r = send(user, s, req).await?;
    let ok = r.str("username") == Some(&s.name)
        && r.str("email") == Some(&email)
        && r.int("karma") == Some(0)
        && r.int("followers_count") == Some(0)
        && location_is(&r, &format!("/api/v1/users/{}", s.name));
    check(user, s, ok, &mut r, || {
        "registration: wrong private view or Location".into()
    })?;
    s.registered = true;
    if let Ok(mut users) = s.shared.users.lock() {
        users.push(s.name.clone());
    }
    Ok(())
}

/// A bearer token, alternately for Basic credentials and for a JSON body.
/// The first one pays argon2id on the server (later ones hit its cache).
pub async fn login(user: &mut GooseUser, s: &mut Session) -> StepResult {
    if !s.registered {
        return register(user, s).await;
    }
    s.iteration += 1;
    let mut req = Req::new(
        Method::POST,
        "POST /api/v1/auth/token",
        "/api/v1/auth/token".into(),
    )
    .expect(StatusCode::OK);
    req = if s.iteration % 2 == 1 {
        req.auth(Auth::Basic)
    } else {
        req.json(json!({"username": s.name, "password": s.password}))
    };
    let mut r = send(user, s, req).await?;
    let token = r.str("access_token").unwrap_or_default().to_string();
    let ok = !token.is_empty()
        && r.str("token_type") == Some("Bearer")
        && r.str("username") == Some(&s.name)
        && r.int("expires_in").is_some_and(|t| t > 0);
    check(user, s, ok, &mut r, || "token answer incomplete".into())?;
    s.token = Some(token);
    let req = Req::get("GET /api/v1/auth/whoami", "/api/v1/auth/whoami".into()).auth(Auth::Bearer);
    let mut r = send(user, s, req).await?;
    let ok = r.str("username") == Some(&s.name) && r.str("email").is_some();
    check(user, s, ok, &mut r, || "whoami is not the caller".into())?;
    // Our own profile, over Basic: the private view (with email).
    let req = Req::get(
        "GET /api/v1/users/{username}",
        format!("/api/v1/users/{}", s.name),
    )
    .auth(Auth::Basic);
    let mut r = send(user, s, req).await?;
    let ok = r.str("username") == Some(&s.name) && r.str("email").is_some();
    check(user, s, ok, &mut r, || {
        "own profile is not the private view".into()
    })
}

/// Follows up to two other users, then checks both sides of the follow.
pub async fn follow(user: &mut GooseUser, s: &mut Session) -> StepResult {
    for _ in 0..2 {
        let Some(other) = pick_other_user(s) else {
            return Ok(());
        };
        let again = s.following.contains(&other);
        let req = Req::new(
            Method::POST,
            "POST /api/v1/users/{username}/follow",
            format!("/api/v1/users/{other}/follow"),
        )
        .auth(Auth::Basic)
        .expect(if again {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        });
        let mut r = send(user, s, req).await?;
        let ok = r.str("username") == Some(&other);
        check(user, s, ok, &mut r, || "follow answers another user".into())?;
        s.following.insert(other.clone());

        let me = s.name.clone();
        let (found, mut r) = pages(
            user,
            s,
            "GET /api/v1/users/{username}/followers",
            &format!("/api/v1/users/{other}/followers?limit=100"),
            Auth::None,
            10,
            |u| u.get("email").map(|_| "public list shows an email".into()),
            |u| u.get("username").and_then(Value::as_str) == Some(me.as_str()),
        )
        .await?;
        check(
            user,
            s,
            found.iter().any(|u| u["username"] == me),
            &mut r,
            || "follower missing from the followee's followers".into(),
        )?;
        let mut r = send(
            user,
            s,
            Req::get(
                "GET /api/v1/users/{username}",
                format!("/api/v1/users/{other}"),
            ),
        )
        .await?;
        let ok = r.str("username") == Some(&other)
            && r.body.get("email").is_none()
            && r.int("followers_count").is_some_and(|n| n >= 1);
        check(user, s, ok, &mut r, || "public profile wrong".into())?;
    }
    let (following, mut r) = pages(
        user,
        s,
        "GET /api/v1/users/{username}/following",
        &format!("/api/v1/users/{}/following?limit=100", s.name),
        Auth::None,
        5,
        |_| None,
        |_| false,
    )
    .await?;
    let all_there = s
        .following
        .iter()
        .all(|f| following.iter().any(|u| u["username"] == f.as_str()));
    check(user, s, all_there, &mut r, || {
        "followee missing from following".into()
    })
}

/// A micro-post (bearer) and a community post (Basic, with an Idempotency-Key
/// replayed once).
pub async fn post(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let text = format!(
        "hello from {} #{} ({})",
        s.name,
        s.iteration,
        s.rng.random::<u32>()
    );
    let req = Req::new(Method::POST, "POST /api/v1/posts", "/api/v1/posts".into())
        .auth(Auth::Bearer)
        .json(json!({ "text": text }));
    let mut r = send(user, s, req).await?;
    let id = r.str("id").unwrap_or_default().to_string();
    let ok = is_id(Some(&id))
        && r.str("author") == Some(&s.name)
        && r.str("text") == Some(&text)
        && r.body.get("title").is_some_and(Value::is_null)
        && r.body.get("in_reply_to").is_some_and(Value::is_null)
        && location_is(&r, &format!("/api/v1/posts/{id}"));
    check(user, s, ok, &mut r, || "created micro-post differs".into())?;
    s.micro = Some(id.clone());

    let mut r = send(
        user,
        s,
        Req::get("GET /api/v1/posts/{id}", format!("/api/v1/posts/{id}")),
    )
    .await?;
    let ok = r.str("id") == Some(&id)
        && r.str("text") == Some(&text)
        && r.str("author") == Some(&s.name);
    check(user, s, ok, &mut r, || "fetched post differs".into())?;
    push_post(s, &id);

    let community = *COMMUNITIES.choose(&mut s.rng).unwrap_or(&COMMUNITIES[0]);
    let title = format!("{} asks #{}", s.name, s.iteration);
    let link = format!("https://example.com/{}/{}", s.name, s.iteration);
    let key = format!("{}-{}", s.name, s.iteration);
    let body = json!({"title": title, "community": community, "url": link});
    let req = || {
        Req::new(Method::POST, "POST /api/v1/posts", "/api/v1/posts".into())
            .auth(Auth::Basic)
            .header("idempotency-key", key.clone())
            .json(body.clone())
    };
    let mut r = send(user, s, req()).await?;
    let id = r.str("id").unwrap_or_default().to_string();
    let ok = is_id(Some(&id))
        && r.str("title") == Some(&title)
        && r.str("community") == Some(community)
        && r.str("url") == Some(&link)
        && r.str("author") == Some(&s.name);
    check(user, s, ok, &mut r, || {
        "created community post differs".into()
    })?;
    let mut r = send(user, s, req()).await?;
    check(user, s, r.str("id") == Some(&id), &mut r, || {
        "Idempotency-Key replay created another post".into()
    })?;
    push_post(s, &id);
    Ok(())
}

fn push_post(s: &Session, id: &str) {
    if let Ok(mut pool) = s.shared.posts.lock() {
        pool.push(PostRef {
            id: id.to_string(),
            author: s.name.clone(),
        });
    }
}

/// A reply to someone's post (found again in its replies) and a repost.
pub async fn interact(user: &mut GooseUser, s: &mut Session) -> StepResult {
    if let Some(target) = pick_post(s, true) {
        let text = format!("{} replies #{}", s.name, s.iteration);
        let req = Req::new(
            Method::POST,
            "POST /api/v1/posts/{id}/replies",
            format!("/api/v1/posts/{}/replies", target.id),
        )
        .auth(Auth::Bearer)
        .json(json!({ "text": text }));
        let mut r = send(user, s, req).await?;
        let reply_id = r.str("id").unwrap_or_default().to_string();
        let ok = is_id(Some(&reply_id))
            && r.str("in_reply_to") == Some(&target.id)
            && r.str("author") == Some(&s.name)
            && r.str("text") == Some(&text);
        check(user, s, ok, &mut r, || "created reply differs".into())?;
        let target_id = target.id.clone();
        let (replies, mut r) = pages(
            user,
            s,
            "GET /api/v1/posts/{id}/replies",
            &format!("/api/v1/posts/{}/replies?limit=100", target.id),
            Auth::None,
            10,
            |p| {
                (p.get("in_reply_to").and_then(Value::as_str) != Some(target_id.as_str()))
                    .then(|| "a reply to another post".into())
            },
            |p| p["id"] == reply_id.as_str(),
        )
        .await?;
        check(
            user,
            s,
            replies.iter().any(|p| p["id"] == reply_id.as_str()),
            &mut r,
            || "new reply missing from replies".into(),
        )?;
    }
    let candidate = pick_post(s, true).filter(|p| !s.reposted.contains(&p.id));
    if let Some(original) = candidate {
        let req = Req::new(
            Method::POST,
            "POST /api/v1/posts/{id}/repost",
            format!("/api/v1/posts/{}/repost", original.id),
        )
        .auth(Auth::Bearer);
        let mut r = send(user, s, req).await?;
        let of = &r.body["repost_of"];
        let ok = of["id"] == original.id.as_str()
            && of["url"] == format!("/api/v1/posts/{}", original.id).as_str()
            && r.str("author") == Some(&s.name);
        check(user, s, ok, &mut r, || "repost differs".into())?;
        s.reposted.insert(original.id);
    }
    Ok(())
}

fn tally_ok(r: &Reply, post: &str, mine: Option<&str>) -> bool {
    let (up, down) = (r.int("upvotes"), r.int("downvotes"));
    let my_vote_ok = match mine {
        Some(v) => r.str("my_vote") == Some(v),
        None => r.body.get("my_vote").is_some_and(Value::is_null),
    };
    let counted = match mine {
        Some("up") => up.is_some_and(|n| n >= 1),
        Some(_) => down.is_some_and(|n| n >= 1),
        None => true,
    };
    r.str("post_id") == Some(post)
        && my_vote_ok
        && counted
        && matches!((up, down), (Some(u), Some(d)) if u >= 0 && d >= 0 && r.int("score") == Some(u - d))
}

async fn vote_req(
    user: &mut GooseUser,
    s: &Session,
    req: Req,
    post: &str,
    mine: Option<&str>,
) -> StepResult {
    let mut r = send(user, s, req.expect(StatusCode::OK)).await?;
    let ok = tally_ok(&r, post, mine);
    check(user, s, ok, &mut r, || match mine {
        Some(v) => format!("tally: my_vote should be {v}"),
        None => "tally: my_vote should be null".into(),
    })
}

/// Up, down, read, remove; like (seen in my likes), upvote, unlike; sort; top lists.
pub async fn vote(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let Some(target) = pick_post(s, false) else {
        return Ok(());
    };
    let t = target.id.as_str();
    let path = |what: &str| format!("/api/v1/posts/{t}/{what}");
    let put = Req::new(Method::PUT, "PUT /api/v1/posts/{id}/vote", path("vote"))
        .auth(Auth::Bearer)
        .json(json!({"direction": "up"}));
    vote_req(user, s, put, t, Some("up")).await?;
    let down = Req::new(
        Method::POST,
        "POST /api/v1/posts/{id}/downvote",
        path("downvote"),
    )
    .auth(Auth::Basic);
    vote_req(user, s, down, t, Some("down")).await?;
    let read = Req::get("GET /api/v1/posts/{id}/votes", path("votes")).auth(Auth::Bearer);
    vote_req(user, s, read, t, Some("down")).await?;
    let anonymous = Req::get("GET /api/v1/posts/{id}/votes", path("votes"));
    vote_req(user, s, anonymous, t, None).await?;
    let remove = Req::new(
        Method::DELETE,
        "DELETE /api/v1/posts/{id}/vote",
        path("vote"),
    )
    .auth(Auth::Bearer);
    vote_req(user, s, remove, t, None).await?;

    if let Some(liked) = pick_post(s, true) {
        let l = liked.id.as_str();
        let like = Req::new(
            Method::POST,
            "POST /api/v1/posts/{id}/like",
            format!("/api/v1/posts/{l}/like"),
        )
        .auth(Auth::Bearer);
        vote_req(user, s, like, l, Some("up")).await?;
        let req = Req::get(
            "GET /api/v1/users/{username}/likes",
            format!("/api/v1/users/{}/likes?limit=100", s.name),
        );
        let mut r = send(user, s, req).await?;
        let ok = r.items().iter().any(|p| p["id"] == l);
        check(user, s, ok, &mut r, || {
            "liked post missing from likes".into()
        })?;
        let up = Req::new(
            Method::POST,
            "POST /api/v1/posts/{id}/upvote",
            format!("/api/v1/posts/{l}/upvote"),
        )
        .auth(Auth::Basic);
        vote_req(user, s, up, l, Some("up")).await?;
        let unlike = Req::new(
            Method::DELETE,
            "DELETE /api/v1/posts/{id}/like",
            format!("/api/v1/posts/{l}/like"),
        )
        .auth(Auth::Bearer);
        vote_req(user, s, unlike, l, None).await?;
    }

    let ids = vec![t.to_string(), "1".to_string()];
    let req = Req::new(
        Method::POST,
        "POST /api/v1/votes/sort",
        "/api/v1/votes/sort".into(),
    )
    .expect(StatusCode::OK)
    .json(json!({ "post_ids": ids }));
    let mut r = send(user, s, req).await?;
    let mut got: Vec<&str> = r.body["post_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    got.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    check(user, s, got == want, &mut r, || {
        "sort answered other ids".into()
    })?;

    let community = *COMMUNITIES.choose(&mut s.rng).unwrap_or(&COMMUNITIES[0]);
    for path in [
        "/api/v1/votes/top?limit=10".to_string(),
        format!("/api/v1/votes/top?community={community}&limit=10"),
    ] {
        let by_community = path.contains("community=");
        let mut r = send(user, s, Req::get("GET /api/v1/votes/top", path)).await?;
        let items = r.items();
        let ordered = items
            .windows(2)
            .all(|w| w[0]["score"].as_i64() >= w[1]["score"].as_i64());
        let right_community = !by_community || items.iter().all(|i| i["community"] == community);
        let shaped = items.iter().all(|i| {
            is_id(i["post_id"].as_str()) && i["score"].is_i64() && i["author"].is_string()
        });
        check(
            user,
            s,
            r.body["items"].is_array() && shaped,
            &mut r,
            || "top list items malformed".into(),
        )?;
        check(user, s, ordered, &mut r, || "top list not by score".into())?;
        check(user, s, right_community, &mut r, || {
            "top list of a community shows another".into()
        })?;
    }
    Ok(())
}

/// Home, public, user, listing and community timelines, following `next_cursor`.
pub async fn read(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let mut allowed = s.following.clone();
    allowed.insert(s.name.clone());
    let (items, mut r) = pages(
        user,
        s,
        "GET /api/v1/timelines/home",
        "/api/v1/timelines/home?limit=20",
        Auth::Bearer,
        3,
        |p| {
            let author = p.get("author").and_then(Value::as_str).unwrap_or_default();
            match allowed.contains(author) {
                true => list_item_shape(p),
                false => Some("home timeline shows a post of someone not followed".into()),
            }
        },
        |_| false,
    )
    .await?;
    check(user, s, newest_first(&items), &mut r, || {
        "home timeline not newest first".into()
    })?;
    let (items, mut r) = pages(
        user,
        s,
        "GET /api/v1/timelines/public",
        "/api/v1/timelines/public?limit=50",
        Auth::None,
        2,
        list_item_shape,
        |_| false,
    )
    .await?;
    check(user, s, newest_first(&items), &mut r, || {
        "public timeline not newest first".into()
    })?;
    // Someone whose posts we have seen: the posts service learns of new
    // accounts through `user.registered` events, so a just-registered
    // user's timeline can answer 404 for a moment (a known gap, not checked).
    let whose = pick_post(s, true).map_or_else(|| s.name.clone(), |p| p.author);
    let (items, mut r) = pages(
        user,
        s,
        "GET /api/v1/users/{username}/posts",
        &format!("/api/v1/users/{whose}/posts?limit=20"),
        Auth::None,
        2,
        |p| match p.get("author").and_then(Value::as_str) == Some(whose.as_str()) {
            true => list_item_shape(p),
            false => Some("user timeline shows another author".into()),
        },
        |_| false,
    )
    .await?;
    check(user, s, newest_first(&items), &mut r, || {
        "user timeline not newest first".into()
    })?;
    let sort = SORTS[(s.iteration as usize) % SORTS.len()];
    let (items, mut r) = pages(
        user,
        s,
        "GET /api/v1/posts",
        &format!("/api/v1/posts?sort={sort}&limit=20"),
        Auth::None,
        2,
        list_item_shape,
        |_| false,
    )
    .await?;
    check(
        user,
        s,
        sort != "new" || newest_first(&items),
        &mut r,
        || "sort=new not newest first".into(),
    )?;
    let community = *COMMUNITIES.choose(&mut s.rng).unwrap_or(&COMMUNITIES[0]);
    let in_community =
        |p: &Value| match p.get("community").and_then(Value::as_str) == Some(community) {
            true => list_item_shape(p),
            false => Some("community listing shows another community".into()),
        };
    let csort = SORTS[(s.iteration as usize + 1) % SORTS.len()];
    let (items, mut r) = pages(
        user,
        s,
        "GET /api/v1/communities/{name}/posts",
        &format!("/api/v1/communities/{community}/posts?sort={csort}&limit=20"),
        Auth::None,
        2,
        in_community,
        |_| false,
    )
    .await?;
    check(
        user,
        s,
        csort != "new" || newest_first(&items),
        &mut r,
        || "community sort=new not newest first".into(),
    )?;
    let (items, mut r) = pages(
        user,
        s,
        "GET /api/v1/posts",
        &format!("/api/v1/posts?community={community}&sort=new&limit=20"),
        Auth::None,
        2,
        in_community,
        |_| false,
    )
    .await?;
    check(user, s, newest_first(&items), &mut r, || {
        "community sort=new not newest first".into()
    })?;
    let (users, mut r) = pages(
        user,
        s,
        "GET /api/v1/users",
        "/api/v1/users?limit=50",
        Auth::None,
        2,
        |u| (!u["username"].is_string()).then(|| "user list item without username".into()),
        |_| false,
    )
    .await?;
    let names: Vec<String> = users
        .iter()
        .filter_map(|u| u["username"].as_str().map(str::to_lowercase))
        .collect();
    check(
        user,
        s,
        names.windows(2).all(|w| w[0] < w[1]),
        &mut r,
        || "users not by username ascending".into(),
    )
}

/// A post that is edited (history kept), deleted (404 after) and gone from
/// the author's timeline, where this iteration's micro-post still is.
pub async fn edit(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let before = format!("{} drafts #{}", s.name, s.iteration);
    let after = format!("{} edits #{}", s.name, s.iteration);
    let req = Req::new(Method::POST, "POST /api/v1/posts", "/api/v1/posts".into())
        .auth(Auth::Bearer)
        .json(json!({ "text": before }));
    let mut r = send(user, s, req).await?;
    let id = r.str("id").unwrap_or_default().to_string();
    check(
        user,
        s,
        is_id(Some(&id)) && r.str("text") == Some(&before),
        &mut r,
        || "created micro-post differs".into(),
    )?;
    let req = Req::new(
        Method::PATCH,
        "PATCH /api/v1/posts/{id}",
        format!("/api/v1/posts/{id}"),
    )
    .auth(Auth::Bearer)
    .json(json!({ "text": after }));
    let mut r = send(user, s, req).await?;
    let ok = r.str("text") == Some(&after) && r.str("edited_at").is_some();
    check(user, s, ok, &mut r, || {
        "edit not applied or edited_at unset".into()
    })?;
    let req = Req::get(
        "GET /api/v1/posts/{id}/history",
        format!("/api/v1/posts/{id}/history"),
    );
    let mut r = send(user, s, req).await?;
    let ok = r.items().len() == 1 && r.items()[0]["text"] == before.as_str();
    check(user, s, ok, &mut r, || {
        "history is not the one earlier version".into()
    })?;
    let req = Req::new(
        Method::DELETE,
        "DELETE /api/v1/posts/{id}",
        format!("/api/v1/posts/{id}"),
    )
    .auth(Auth::Basic)
    .expect(StatusCode::NO_CONTENT);
    send(user, s, req).await?;
    let req = Req::get("GET /api/v1/posts/{id}", format!("/api/v1/posts/{id}"))
        .expect(StatusCode::NOT_FOUND);
    let mut r = send(user, s, req).await?;
    check(
        user,
        s,
        r.str("code").is_some() && r.str("error").is_some(),
        &mut r,
        || "404 without an error body".into(),
    )?;
    let req = Req::get(
        "GET /api/v1/users/{username}/posts",
        format!("/api/v1/users/{}/posts?limit=20", s.name),
    );
    let mut r = send(user, s, req).await?;
    let deleted_gone = !r.items().iter().any(|p| p["id"] == id.as_str());
    let micro_there = s
        .micro
        .as_ref()
        .is_none_or(|m| r.items().iter().any(|p| p["id"] == m.as_str()));
    check(user, s, deleted_gone, &mut r, || {
        "deleted post still in the user timeline".into()
    })?;
    check(user, s, micro_there, &mut r, || {
        "new post missing from the user timeline".into()
    })
}

/// A poll of my own, and a vote in someone's poll.
pub async fn poll(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let question = format!("{} wonders #{}", s.name, s.iteration);
    let options = ["tabs", "spaces", "both"];
    let req = Req::new(Method::POST, "POST /api/v1/polls", "/api/v1/polls".into())
        .auth(Auth::Basic)
        .json(json!({"question": question, "options": options}));
    let mut r = send(user, s, req).await?;
    let id = r.str("id").unwrap_or_default().to_string();
    let texts: Vec<&str> = r.body["options"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["text"].as_str()).collect())
        .unwrap_or_default();
    let ok = is_id(Some(&id))
        && r.str("author") == Some(&s.name)
        && r.str("question") == Some(&question)
        && texts == options
        && r.int("total_votes") == Some(0)
        && location_is(&r, &format!("/api/v1/polls/{id}"));
    check(user, s, ok, &mut r, || "created poll differs".into())?;
    if let Ok(mut polls) = s.shared.polls.lock() {
        polls.push(id);
    }

    let open: Vec<String> = match s.shared.polls.lock() {
        Ok(polls) => polls
            .items()
            .iter()
            .filter(|p| !s.polls_voted.contains(*p))
            .cloned()
            .collect(),
        Err(_) => Vec::new(),
    };
    let Some(poll) = open.choose(&mut s.rng).cloned() else {
        return Ok(());
    };
    let choice = s.rng.random_range(0..options.len());
    let req = Req::new(
        Method::POST,
        "POST /api/v1/polls/{id}/votes",
        format!("/api/v1/polls/{poll}/votes"),
    )
    .auth(Auth::Bearer)
    .json(json!({ "choice": choice }));
    let mut r = send(user, s, req).await?;
    let ok = r.str("id") == Some(&poll)
        && r.int("total_votes").is_some_and(|n| n >= 1)
        && r.body["options"][choice]["votes"]
            .as_i64()
            .is_some_and(|n| n >= 1);
    check(user, s, ok, &mut r, || "poll vote not counted".into())?;
    s.polls_voted.insert(poll.clone());
    let mut r = send(
        user,
        s,
        Req::get("GET /api/v1/polls/{id}", format!("/api/v1/polls/{poll}")),
    )
    .await?;
    let ok = r.str("id") == Some(&poll) && r.int("total_votes").is_some_and(|n| n >= 1);
    check(user, s, ok, &mut r, || "poll lost its votes".into())
}

/// A direct message with quick replies, found in my sent box.
pub async fn message(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let Some(to) = pick_other_user(s) else {
        return Ok(());
    };
    let text = format!("{} writes #{}: coffee?", s.name, s.iteration);
    let req = Req::new(
        Method::POST,
        "POST /api/v1/messages",
        "/api/v1/messages".into(),
    )
    .auth(Auth::Bearer)
    .json(json!({"to": to, "text": text, "quick_replies": ["yes", "no"]}));
    let mut r = send(user, s, req).await?;
    let id = r.str("id").unwrap_or_default().to_string();
    let ok = is_id(Some(&id))
        && r.str("from") == Some(&s.name)
        && r.str("to") == Some(&to)
        && r.str("text") == Some(&text)
        && r.body["quick_replies"] == json!(["yes", "no"])
        && r.body["favorite"] == false
        && r.body.get("in_reply_to").is_some_and(Value::is_null)
        && location_is(&r, &format!("/api/v1/messages/{id}"));
    check(user, s, ok, &mut r, || "created message differs".into())?;
    let req = Req::get(
        "GET /api/v1/messages",
        "/api/v1/messages?box=sent&limit=20".into(),
    )
    .auth(Auth::Basic);
    let mut r = send(user, s, req).await?;
    let ok = r.items().iter().any(|m| m["id"] == id.as_str())
        && r.items().iter().all(|m| m["from"] == s.name.as_str());
    check(user, s, ok, &mut r, || "sent box misses the message".into())?;
    if let Ok(mut boxes) = s.shared.mailboxes.lock() {
        boxes.entry(to).or_default().push(Pending {
            id,
            from: s.name.clone(),
            text,
        });
    }
    Ok(())
}

/// The inbox, then each message sent to me: read, answered (quick reply or
/// words), favorited and unfavorited, its thread read; every other one deleted.
pub async fn inbox(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let me = s.name.clone();
    pages(
        user,
        s,
        "GET /api/v1/messages",
        "/api/v1/messages?box=inbox&limit=20",
        Auth::Bearer,
        2,
        |m| (m["to"] != me.as_str()).then(|| "inbox shows a message to someone else".into()),
        |_| false,
    )
    .await?;
    let pending: Vec<Pending> = match s.shared.mailboxes.lock() {
        Ok(mut boxes) => boxes
            .get_mut(&s.name)
            .map(|v| v.drain(..v.len().min(2)).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for (n, m) in pending.into_iter().enumerate() {
        let path = format!("/api/v1/messages/{}", m.id);
        let mut r = send(
            user,
            s,
            Req::get("GET /api/v1/messages/{id}", path.clone()).auth(Auth::Bearer),
        )
        .await?;
        let ok = r.str("from") == Some(&m.from)
            && r.str("to") == Some(&me)
            && r.str("text") == Some(&m.text);
        check(user, s, ok, &mut r, || {
            "message differs for its recipient".into()
        })?;

        let quick = (s.iteration as usize + n).is_multiple_of(2);
        let (body, answer) = match quick {
            true => (json!({"quick_reply": 0}), "yes".to_string()),
            false => {
                let words = format!("{me} answers: sure");
                (json!({ "text": words }), words)
            }
        };
        let req = Req::new(
            Method::POST,
            "POST /api/v1/messages/{id}/replies",
            format!("{path}/replies"),
        )
        .auth(Auth::Bearer)
        .json(body);
        let mut r = send(user, s, req).await?;
        let reply_id = r.str("id").unwrap_or_default().to_string();
        let ok = r.str("in_reply_to") == Some(&m.id)
            && r.str("to") == Some(&m.from)
            && r.str("from") == Some(&me)
            && r.str("text") == Some(&answer);
        check(user, s, ok, &mut r, || match quick {
            true => "quick reply differs".into(),
            false => "reply differs".into(),
        })?;

        let req = Req::new(
            Method::POST,
            "POST /api/v1/messages/{id}/favorite",
            format!("{path}/favorite"),
        )
        .auth(Auth::Basic)
        .expect(StatusCode::OK);
        let mut r = send(user, s, req).await?;
        check(user, s, r.body["favorite"] == true, &mut r, || {
            "favorite not set".into()
        })?;
        let req = Req::get(
            "GET /api/v1/messages",
            "/api/v1/messages?box=all&favorite=true&limit=100".into(),
        )
        .auth(Auth::Bearer);
        let mut r = send(user, s, req).await?;
        let ok = r.items().iter().any(|x| x["id"] == m.id.as_str())
            && r.items().iter().all(|x| x["favorite"] == true);
        check(user, s, ok, &mut r, || "favorites list wrong".into())?;
        let req = Req::new(
            Method::DELETE,
            "DELETE /api/v1/messages/{id}/favorite",
            format!("{path}/favorite"),
        )
        .auth(Auth::Bearer);
        let mut r = send(user, s, req).await?;
        check(user, s, r.body["favorite"] == false, &mut r, || {
            "favorite not cleared".into()
        })?;

        let req = Req::get(
            "GET /api/v1/messages/{id}/replies",
            format!("{path}/replies?limit=100"),
        )
        .auth(Auth::Basic);
        let mut r = send(user, s, req).await?;
        let ok = r.items().iter().any(|x| x["id"] == reply_id.as_str())
            && r.items().iter().all(|x| x["in_reply_to"] == m.id.as_str());
        check(user, s, ok, &mut r, || "thread misses the reply".into())?;

        if n % 2 == 1 {
            let req = Req::new(Method::DELETE, "DELETE /api/v1/messages/{id}", path.clone())
                .auth(Auth::Bearer)
                .expect(StatusCode::NO_CONTENT);
            send(user, s, req).await?;
            let req = Req::get("GET /api/v1/messages/{id}", path)
                .auth(Auth::Bearer)
                .expect(StatusCode::NOT_FOUND);
            send(user, s, req).await?;
        }
    }
    Ok(())
}

/// Log out, then the token must stop working (401 with WWW-Authenticate).
pub async fn logout(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let Some(token) = s.token.clone() else {
        return Ok(());
    };
    let req = Req::new(
        Method::DELETE,
        "DELETE /api/v1/auth/token",
        "/api/v1/auth/token".into(),
    )
    .auth(Auth::Bearer)
    .expect(StatusCode::NO_CONTENT);
    send(user, s, req).await?;
    s.token = None;
    if s.shared.revocation_checks.fetch_sub(1, Ordering::Relaxed) <= 0 {
        return Ok(());
    }
    let mut req = Req::get("GET /api/v1/auth/whoami", "/api/v1/auth/whoami".into())
        .auth(Auth::Bearer)
        .expect(StatusCode::UNAUTHORIZED);
    req.token = Some(token);
    let mut r = send(user, s, req).await?;
    let challenge = r
        .headers
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("Bearer"));
    check(
        user,
        s,
        challenge && r.str("code").is_some(),
        &mut r,
        || "401 without WWW-Authenticate or error code".into(),
    )
}

/// A post with a mention of another user and two tags: the post carries
/// them, and the tag's listing and a search for its unique word find it.
pub async fn tag_and_mention(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let Some(other) = pick_other_user(s) else {
        return Ok(());
    };
    // A tag and a word of this user's alone, so the listings must show this post.
    let own_tag = format!("t{}", s.name.to_lowercase());
    let word = format!("w{}x{}", s.rng.random::<u32>(), s.iteration);
    let text = format!("@{other} look at {word} #loadtest #{own_tag}");
    let req = Req::new(Method::POST, "POST /api/v1/posts", "/api/v1/posts".into())
        .auth(Auth::Bearer)
        .json(json!({ "text": text }));
    let mut r = send(user, s, req).await?;
    let id = r.str("id").unwrap_or_default().to_string();
    let ok = is_id(Some(&id))
        && r.body["tags"] == json!(["loadtest", own_tag])
        && r.body["mentions"] == json!([other]);
    check(user, s, ok, &mut r, || {
        "post tags or mentions differ".into()
    })?;
    push_post(s, &id);

    let (found, mut r) = pages(
        user,
        s,
        "GET /api/v1/tags/{tag}/posts",
        &format!("/api/v1/tags/{own_tag}/posts?limit=20"),
        Auth::None,
        1,
        |p| {
            let tagged = p["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == own_tag.as_str()));
            (!tagged).then(|| "tag listing shows an untagged post".into())
        },
        |_| false,
    )
    .await?;
    let ok = found.first().is_some_and(|p| p["id"] == id.as_str()) && newest_first(&found);
    check(user, s, ok, &mut r, || {
        "new post not first in its tag's listing".into()
    })?;

    let req = Req::get(
        "GET /api/v1/search",
        format!("/api/v1/search?q={word}&type=posts"),
    );
    let mut r = send(user, s, req).await?;
    let ok = r.body["posts"]
        .as_array()
        .is_some_and(|posts| posts.iter().any(|p| p["id"] == id.as_str()));
    check(user, s, ok, &mut r, || {
        "search by a post's word misses it".into()
    })?;
    let req = Req::get(
        "GET /api/v1/search",
        format!("/api/v1/search?q={}", enc(&s.name)),
    )
    .auth(Auth::Bearer);
    let mut r = send(user, s, req).await?;
    let me = s.name.as_str();
    let ok = r.body["users"]
        .as_array()
        .is_some_and(|users| users.iter().any(|u| u["username"] == me))
        && r.body["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().all(|t| t["name"].is_string()));
    check(user, s, ok, &mut r, || {
        "user search misses the user by name".into()
    })
}

/// Reads notifications (all, by type, unread), then marks them read.
pub async fn notifications(user: &mut GooseUser, s: &mut Session) -> StepResult {
    const TYPES: [&str; 6] = ["follow", "reply", "mention", "repost", "like", "message"];
    let shape = |n: &Value| -> Option<String> {
        let ok = is_id(n.get("id").and_then(Value::as_str))
            && n["type"].as_str().is_some_and(|t| TYPES.contains(&t))
            && n["read"].is_boolean()
            && n["account"]["username"].is_string()
            && n["created_at"].is_string();
        (!ok).then(|| format!("notification shape: {n}"))
    };
    let (all, mut r) = pages(
        user,
        s,
        "GET /api/v1/notifications",
        "/api/v1/notifications?limit=20",
        Auth::Bearer,
        2,
        shape,
        |_| false,
    )
    .await?;
    check(user, s, newest_first(&all), &mut r, || {
        "notifications not newest first".into()
    })?;
    let (some, mut r) = pages(
        user,
        s,
        "GET /api/v1/notifications",
        "/api/v1/notifications?types=follow,mention&unread=true&limit=20",
        Auth::Basic,
        1,
        |n| {
            let ok = matches!(n["type"].as_str(), Some("follow" | "mention")) && n["read"] == false;
            (!ok).then(|| "filtered notifications include others".into())
        },
        |_| false,
    )
    .await?;
    check(user, s, newest_first(&some), &mut r, || {
        "filtered notifications not newest first".into()
    })?;
    let req = Req::get(
        "GET /api/v1/notifications/unread_count",
        "/api/v1/notifications/unread_count".into(),
    )
    .auth(Auth::Bearer);
    let mut r = send(user, s, req).await?;
    check(
        user,
        s,
        r.int("count").is_some_and(|n| n >= 0),
        &mut r,
        || "unread count missing".into(),
    )?;
    // Read up to the newest seen: what is left unread is only what came since.
    let mut body = json!({});
    if let Some(newest) = all.first().and_then(|n| n["id"].as_str()) {
        body = json!({ "up_to": newest });
    }
    let req = Req::new(
        Method::POST,
        "POST /api/v1/notifications/read",
        "/api/v1/notifications/read".into(),
    )
    .auth(Auth::Bearer)
    .expect(StatusCode::OK)
    .json(body);
    let mut r = send(user, s, req).await?;
    check(
        user,
        s,
        r.int("count").is_some_and(|n| n >= 0),
        &mut r,
        || "read answer without a count".into(),
    )
}

/// Blocks and mutes this user's own bystander account (which nobody else
/// uses, so no other simulated user meets a block): a block ends a follow
/// and refuses a new one with 403 `blocked`, lists show both, undoing works.
pub async fn block_and_mute(user: &mut GooseUser, s: &mut Session) -> StepResult {
    let bystander = format!("{}b", s.name);
    if !s.bystander {
        let req =
            Req::new(Method::POST, "POST /api/v1/users", "/api/v1/users".into()).json(json!({
                "username": bystander, "email": format!("{bystander}@load.example.com"),
                "password": s.password,
            }));
        send(user, s, req).await?;
        s.bystander = true;
    }
    let path = |what: &str| format!("/api/v1/users/{bystander}/{what}");
    let follow = |expect| {
        Req::new(
            Method::POST,
            "POST /api/v1/users/{username}/follow",
            path("follow"),
        )
        .auth(Auth::Bearer)
        .expect(expect)
    };
    send(user, s, follow(StatusCode::CREATED)).await?;
    for kind in ["block", "mute"] {
        let (route, list_route, list) = match kind {
            "block" => (
                "POST /api/v1/users/{username}/block",
                "GET /api/v1/blocks",
                "/api/v1/blocks?limit=100",
            ),
            _ => (
                "POST /api/v1/users/{username}/mute",
                "GET /api/v1/mutes",
                "/api/v1/mutes?limit=100",
            ),
        };
        let req = Req::new(Method::POST, route, path(kind)).auth(Auth::Bearer);
        let mut r = send(user, s, req).await?;
        check(
            user,
            s,
            r.str("username") == Some(&bystander),
            &mut r,
            || format!("{kind} answers another user"),
        )?;
        let req = Req::get(list_route, list.into()).auth(Auth::Basic);
        let mut r = send(user, s, req).await?;
        let listed = r
            .items()
            .iter()
            .any(|u| u["username"] == bystander.as_str());
        check(user, s, listed, &mut r, || {
            format!("{kind} missing from the list")
        })?;
    }
    // The block ended the follow, and refuses a new one.
    let mut r = send(
        user,
        s,
        Req::get(
            "GET /api/v1/users/{username}",
            format!("/api/v1/users/{bystander}"),
        ),
    )
    .await?;
    check(user, s, r.int("followers_count") == Some(0), &mut r, || {
        "a block left the follow in place".into()
    })?;
    let mut r = send(user, s, follow(StatusCode::FORBIDDEN)).await?;
    check(user, s, r.str("code") == Some("blocked"), &mut r, || {
        "follow of a blocked account not refused as blocked".into()
    })?;
    for (kind, route) in [
        ("block", "DELETE /api/v1/users/{username}/block"),
        ("mute", "DELETE /api/v1/users/{username}/mute"),
    ] {
        let req = Req::new(Method::DELETE, route, path(kind))
            .auth(Auth::Bearer)
            .expect(StatusCode::NO_CONTENT);
        send(user, s, req).await?;
    }
    let mut r = send(
        user,
        s,
        Req::get("GET /api/v1/blocks", "/api/v1/blocks?limit=100".into()).auth(Auth::Bearer),
    )
    .await?;
    let gone = !r
        .items()
        .iter()
        .any(|u| u["username"] == bystander.as_str());
    check(user, s, gone, &mut r, || {
        "unblocked account still listed".into()
    })
}
