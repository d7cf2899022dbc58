//! `rookery migrate`: create or upgrade the databases, then exit.

use std::path::PathBuf;

use rookery_kernel::db::sqlite_url_in;

use super::ServiceName;

#[derive(clap::Args)]
pub struct Args {
    /// A database URL to migrate (the --service's); defaults to every
    /// service's SQLite file under --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Whose schema --database-url gets.
    #[arg(long, value_enum, default_value = "users")]
    service: ServiceName,
    #[arg(long, default_value = "./data", env = "ROOKERY_DATA_DIR")]
    data_dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        database_url,
        data_dir,
        service,
    } = args;
    let database_url_given = database_url.is_some();
    let url = match database_url {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&data_dir)?;
            sqlite_url_in(&data_dir, "users")
        }
    };
    let ids = std::sync::Arc::new(rookery_kernel::ids::IdGenerator::from_env());
    match database_url_given {
        // One URL: the database of the service named by --service.
        true => match service {
            ServiceName::Users => (rookery_users::open_store(&url, ids).await?.close)().await,
            ServiceName::Posts => (rookery_posts::open_store(&url, ids).await?.close)().await,
            // A DynamoDB URL for the votes service is its polls table.
            ServiceName::Votes if url.starts_with("dynamodb://") => {
                let url = rookery_kernel::dynamo::DynamoUrl::parse(&url)?;
                rookery_votes::DynamoPollStore::open(&url, ids).await?;
            }
            ServiceName::Votes => (rookery_votes::open_store(&url, ids).await?.close)().await,
            ServiceName::Messages => (rookery_messages::open_store(&url, ids).await?.close)().await,
            ServiceName::Notifications => {
                (rookery_notifications::open_store(&url, ids).await?.close)().await
            }
            ServiceName::Web => (rookery_web::open_store(&url).await?.close)().await,
            ServiceName::Mastodon => (rookery_mastodon::open_store(&url).await?.close)().await,
        },
        false => {
            (rookery_users::open_store(&url, ids.clone()).await?.close)().await;
            let posts = sqlite_url_in(&data_dir, "posts");
            (rookery_posts::open_store(&posts, ids.clone()).await?.close)().await;
            let votes = sqlite_url_in(&data_dir, "votes");
            (rookery_votes::open_store(&votes, ids.clone()).await?.close)().await;
            let messages = sqlite_url_in(&data_dir, "messages");
            (rookery_messages::open_store(&messages, ids.clone())
                .await?
                .close)()
            .await;
            let notifications = sqlite_url_in(&data_dir, "notifications");
            (rookery_notifications::open_store(&notifications, ids)
                .await?
                .close)()
            .await;
            let web = sqlite_url_in(&data_dir, "web");
            (rookery_web::open_store(&web).await?.close)().await;
            let mastodon = sqlite_url_in(&data_dir, "mastodon");
            (rookery_mastodon::open_store(&mastodon).await?.close)().await;
        }
    }
    println!("databases migrated");
    Ok(())
}
