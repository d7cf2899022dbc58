//! `rookery openapi`: print the OpenAPI document.

pub async fn run() -> anyhow::Result<()> {
    println!("{}", rookery::openapi::document().to_pretty_json()?);
    Ok(())
}
