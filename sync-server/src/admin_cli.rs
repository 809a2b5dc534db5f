//! `sync-server admin …`: the admin API from the command line. Requests are
//! built from the wire DTOs; replies are printed as pretty JSON; an error
//! reply prints the server's message and exits non-zero.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::identity::{Email, Gender, PhoneNumber};
use shared::money::Currency;
use shared::ruleset::{Promotion, Ruleset};
use shared::wire::ErrorBody;
use sync_server::wire::admin::{
    NewApiKey, NewBrand, NewCustomer, NewEnrollmentToken, NewInvitation, NewMerchant,
    NewPasswordReset, NewStore, OneTimeLink,
};

/// `sync-server admin` arguments.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's base URL.
    #[arg(long, env = "SYNC_SERVER_URL", default_value = "http://127.0.0.1:8640")]
    server: String,
    /// The admin API's bearer token [default: SYNC_SERVER__ADMIN_TOKEN, as
    /// the server reads it, else `admin_token` of the server's configuration
    /// file].
    #[arg(long, env = "SYNC_SERVER__ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The server's configuration file to read the admin token from
    /// [default: <data_dir>/server.toml].
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// The server's data directory, whose server.toml holds the admin token.
    #[arg(long, default_value = "/var/lib/sync-server")]
    data_dir: std::path::PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Brands of a merchant.
    #[command(subcommand)]
    Brand(BrandCommand),
    /// Stores of a merchant.
    #[command(subcommand)]
    Store(StoreCommand),
    /// One-time register enrollment tokens.
    #[command(subcommand)]
    EnrollmentToken(EnrollmentTokenCommand),
    /// A merchant's ruleset.
    #[command(subcommand)]
    Ruleset(RulesetCommand),
    /// Promotions, added to or replaced in the current ruleset.
    #[command(subcommand)]
    Promotion(PromotionCommand),
    /// A merchant's registers.
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Customers.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// A merchant's people: invitations, password resets.
    #[command(subcommand)]
    User(UserCommand),
    /// A merchant's API keys for automation.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// A merchant's audit trail, newest first.
    Audit {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// Only this actor (an e-mail address, `admin-token`, `key:<name>#<id>`).
        #[arg(long)]
        actor: Option<String>,
        /// Only actions starting with this, such as `promotion`.
        #[arg(long)]
        action: Option<String>,
    },
    /// A merchant's alerts, newest first.
    Alerts {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The most alerts.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Records a merchant's registers forked, kept in quarantine.
    Quarantine {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The most records.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// How the server's own pricing of a merchant's records compares with
    /// the tills': counts, skip reasons and the newest mismatches.
    Mismatches {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The most mismatched records.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Customers whose points balance records left negative (offline
    /// redemptions on several tills, returns of points already spent),
    /// with those records.
    Overdrafts {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
    },
    /// A merchant's statistics.
    Stats {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The first local day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// The last local day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
enum MerchantCommand {
    /// Creates a merchant.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Currency of the programme.
        #[arg(long, default_value = "RUB")]
        currency: Currency,
    },
    /// Lists merchants.
    List,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Invites a person; prints the one-time link that sets their password.
    Invite {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// Their e-mail address.
        #[arg(long)]
        email: String,
        /// owner, marketer, analyst, store_manager or support.
        #[arg(long)]
        role: String,
        /// A store manager's store (repeat for several).
        #[arg(long = "store")]
        stores: Vec<i64>,
    },
    /// Prints a one-time link that sets a new password.
    ResetPassword {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// Their e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Lists the merchant's people.
    List {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Creates a key with a role; its token is shown once.
    Create {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// What it is for.
        #[arg(long)]
        name: String,
        /// owner, marketer, analyst, store_manager or support.
        #[arg(long)]
        role: String,
        /// A store manager's key: its store (repeat for several).
        #[arg(long = "store")]
        stores: Vec<i64>,
    },
    /// Lists the merchant's keys (never their tokens).
    List {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
    },
}

#[derive(Debug, Subcommand)]
enum BrandCommand {
    /// Creates a brand.
    Create {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// Name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Creates a store.
    Create {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The brand it trades under.
        #[arg(long)]
        brand: Option<i64>,
        /// Name.
        #[arg(long)]
        name: String,
        /// IANA time zone, such as Europe/Moscow.
        #[arg(long)]
        timezone: shared::timezone::TimeZone,
    },
    /// Lists a merchant's stores.
    List {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
    },
}

#[derive(Debug, Subcommand)]
enum EnrollmentTokenCommand {
    /// Creates a one-time token for a register of a store.
    Create {
        /// The store.
        #[arg(long)]
        store: i64,
        /// Lifetime in seconds [default: one day].
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum RulesetCommand {
    /// Publishes a whole ruleset from a JSON file as the next version: a
    /// bare ruleset (see `sync-server/examples/rulesets/`), or what
    /// `ruleset show` printed, edited or not.
    Publish {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The ruleset JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// Shows the current ruleset.
    Show {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
    },
}

#[derive(Debug, Subcommand)]
enum PromotionCommand {
    /// Adds or replaces a promotion from a JSON file and publishes.
    Publish {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// The promotion JSON.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RegisterCommand {
    /// Lists a merchant's registers.
    List {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
    },
    /// Revokes a register; it must enroll again.
    Revoke {
        /// The register.
        #[arg(long)]
        register: i64,
    },
}

#[derive(Debug, Subcommand)]
enum CustomerCommand {
    /// Creates a customer: a name and a phone or an e-mail.
    Create {
        /// The merchant.
        #[arg(long)]
        merchant: i64,
        /// Name.
        #[arg(long)]
        name: String,
        /// Phone number.
        #[arg(long)]
        phone: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// female, male or unspecified.
        #[arg(long, default_value = "unspecified")]
        gender: String,
        /// Birth date (YYYY-MM-DD).
        #[arg(long)]
        birth_date: Option<NaiveDate>,
    },
    /// Shows a customer with standing and history.
    Show {
        /// The customer.
        #[arg(long)]
        customer: i64,
    },
    /// Issues a token for the customer's phone.
    Token {
        /// The customer.
        #[arg(long)]
        customer: i64,
    },
    /// Issues a new personal link to the customer's phone page (the earlier
    /// one stops working).
    Link {
        /// The customer.
        #[arg(long)]
        customer: i64,
    },
}

/// The admin token: the flag or `SYNC_SERVER__ADMIN_TOKEN` (the server's
/// own variable; the older `SYNC_SERVER_ADMIN_TOKEN` is still read), else
/// the server's configuration file, read as the server reads it.
fn admin_token(args: &AdminArgs) -> anyhow::Result<String> {
    use secrecy::ExposeSecret as _;
    if let Some(token) = args.admin_token.clone() {
        return Ok(token);
    }
    if let Ok(token) = std::env::var("SYNC_SERVER_ADMIN_TOKEN") {
        return Ok(token);
    }
    let cli = sync_server::config::CliOverrides {
        data_dir: Some(args.data_dir.clone()),
        ..Default::default()
    };
    let settings = sync_server::Settings::load(args.config.as_deref(), &cli).map_err(|e| {
        anyhow::anyhow!(
            "no admin token: pass --admin-token, set SYNC_SERVER__ADMIN_TOKEN, or point \
             --config/--data-dir at the server's configuration ({e})"
        )
    })?;
    Ok(settings.admin_token.expose_secret().to_owned())
}

/// Runs one admin command and prints the reply.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let client = Client {
        http: reqwest::Client::new(),
        base: args.server.trim_end_matches('/').to_owned(),
        token: admin_token(&args)?,
    };
    let reply = match args.command {
        AdminCommand::Merchant(MerchantCommand::Create { name, currency }) => {
            client
                .post("/api/v1/admin/merchants", &NewMerchant { name, currency })
                .await?
        }
        AdminCommand::Merchant(MerchantCommand::List) => {
            client.get("/api/v1/admin/merchants").await?
        }
        AdminCommand::Brand(BrandCommand::Create { merchant, name }) => {
            let path = format!("/api/v1/admin/merchants/{merchant}/brands");
            client.post(&path, &NewBrand { name }).await?
        }
        AdminCommand::Store(StoreCommand::Create {
            merchant,
            brand,
            name,
            timezone,
        }) => {
            let brand_id = brand
                .map(shared::ids::BrandId::new)
                .transpose()
                .context("--brand")?;
            let path = format!("/api/v1/admin/merchants/{merchant}/stores");
            let body = NewStore {
                brand_id,
                name,
                timezone,
            };
            client.post(&path, &body).await?
        }
        AdminCommand::Store(StoreCommand::List { merchant }) => {
            client
                .get(&format!("/api/v1/admin/merchants/{merchant}/stores"))
                .await?
        }
        AdminCommand::EnrollmentToken(EnrollmentTokenCommand::Create { store, ttl_secs }) => {
            let path = format!("/api/v1/admin/stores/{store}/enrollment-tokens");
            client.post(&path, &NewEnrollmentToken { ttl_secs }).await?
        }
        AdminCommand::Ruleset(RulesetCommand::Publish { merchant, file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("read {}", file.display()))?;
            let ruleset =
                ruleset_file(&text).with_context(|| format!("parse {}", file.display()))?;
            let path = format!("/api/v1/admin/merchants/{merchant}/ruleset");
            client.send(Method::PUT, &path, Some(&ruleset)).await?
        }
        AdminCommand::Ruleset(RulesetCommand::Show { merchant }) => {
            client
                .get(&format!("/api/v1/admin/merchants/{merchant}/ruleset"))
                .await?
        }
        AdminCommand::Promotion(PromotionCommand::Publish { merchant, file }) => {
            let promotion: Promotion = read_json(&file)?;
            let path = format!("/api/v1/admin/merchants/{merchant}/promotions");
            client.post(&path, &promotion).await?
        }
        AdminCommand::Register(RegisterCommand::List { merchant }) => {
            client
                .get(&format!("/api/v1/admin/merchants/{merchant}/registers"))
                .await?
        }
        AdminCommand::Register(RegisterCommand::Revoke { register }) => {
            let path = format!("/api/v1/admin/registers/{register}/revoke");
            client.send(Method::POST, &path, None::<&()>).await?;
            // Say what happened: revoking is not undone by running it again.
            println!(
                "revoked register {register}: its uploads and long-polls are refused from now \
                 on; the records it stored stay and count. To use the till again, enroll it \
                 with a new token (pos-agent enroll)."
            );
            serde_json::Value::Null
        }
        AdminCommand::Customer(CustomerCommand::Create {
            merchant,
            name,
            phone,
            email,
            gender,
            birth_date,
        }) => {
            let body = NewCustomer {
                name,
                phone: phone
                    .map(|p| PhoneNumber::parse(&p))
                    .transpose()
                    .context("--phone")?,
                email: email
                    .map(|e| Email::parse(&e))
                    .transpose()
                    .context("--email")?,
                gender: parse_gender(&gender)?,
                birth_date,
            };
            let path = format!("/api/v1/admin/merchants/{merchant}/customers");
            client.post(&path, &body).await?
        }
        AdminCommand::Customer(CustomerCommand::Show { customer }) => {
            client
                .get(&format!("/api/v1/admin/customers/{customer}"))
                .await?
        }
        AdminCommand::Customer(CustomerCommand::Token { customer }) => {
            let path = format!("/api/v1/admin/customers/{customer}/token");
            client.send(Method::POST, &path, None::<&()>).await?
        }
        AdminCommand::Customer(CustomerCommand::Link { customer }) => {
            let path = format!("/api/v1/admin/customers/{customer}/link");
            client.send(Method::POST, &path, None::<&()>).await?
        }
        AdminCommand::User(UserCommand::Invite {
            merchant,
            email,
            role,
            stores,
        }) => {
            let stores = store_ids(stores)?;
            let path = format!("/api/v1/admin/merchants/{merchant}/invitations");
            let reply = client
                .post(
                    &path,
                    &NewInvitation {
                        email,
                        role,
                        stores,
                    },
                )
                .await?;
            print_link(&reply)?;
            serde_json::Value::Null
        }
        AdminCommand::User(UserCommand::ResetPassword { merchant, email }) => {
            let path = format!("/api/v1/admin/merchants/{merchant}/password-resets");
            let reply = client.post(&path, &NewPasswordReset { email }).await?;
            print_link(&reply)?;
            serde_json::Value::Null
        }
        AdminCommand::User(UserCommand::List { merchant }) => {
            client
                .get(&format!("/api/v1/admin/merchants/{merchant}/accounts"))
                .await?
        }
        AdminCommand::ApiKey(ApiKeyCommand::Create {
            merchant,
            name,
            role,
            stores,
        }) => {
            let stores = store_ids(stores)?;
            let path = format!("/api/v1/admin/merchants/{merchant}/api-keys");
            client
                .post(&path, &NewApiKey { name, role, stores })
                .await?
        }
        AdminCommand::ApiKey(ApiKeyCommand::List { merchant }) => {
            client
                .get(&format!("/api/v1/admin/merchants/{merchant}/api-keys"))
                .await?
        }
        AdminCommand::Audit {
            merchant,
            actor,
            action,
        } => {
            let mut query: Vec<String> = Vec::new();
            for (key, value) in [("actor", actor), ("action", action)] {
                if let Some(value) = value {
                    query.push(format!(
                        "{key}={}",
                        percent_encoding::utf8_percent_encode(
                            &value,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ));
                }
            }
            let mut path = format!("/api/v1/admin/merchants/{merchant}/audit");
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            client.get(&path).await?
        }
        AdminCommand::Alerts { merchant, limit } => {
            client
                .get(&format!(
                    "/api/v1/admin/merchants/{merchant}/alerts?limit={limit}"
                ))
                .await?
        }
        AdminCommand::Quarantine { merchant, limit } => {
            client
                .get(&format!(
                    "/api/v1/admin/merchants/{merchant}/quarantine?limit={limit}"
                ))
                .await?
        }
        AdminCommand::Mismatches { merchant, limit } => {
            client
                .get(&format!(
                    "/api/v1/admin/merchants/{merchant}/mismatches?limit={limit}"
                ))
                .await?
        }
        AdminCommand::Overdrafts { merchant } => {
            client
                .get(&format!("/api/v1/admin/merchants/{merchant}/overdrafts"))
                .await?
        }
        AdminCommand::Stats { merchant, from, to } => {
            let mut path = format!("/api/v1/admin/merchants/{merchant}/stats");
            let range: Vec<String> = [("from", from), ("to", to)]
                .into_iter()
                .filter_map(|(key, day)| day.map(|d| format!("{key}={d}")))
                .collect();
            if !range.is_empty() {
                path = format!("{path}?{}", range.join("&"));
            }
            client.get(&path).await?
        }
    };
    if !reply.is_null() {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    }
    Ok(())
}

/// Prints a one-time link from the server's reply, alone on its line.
fn print_link(reply: &serde_json::Value) -> anyhow::Result<()> {
    let link: OneTimeLink =
        serde_json::from_value(reply.clone()).context("the server's reply is not a link")?;
    println!("{}", link.link);
    eprintln!("one-time; valid until {}", link.expires_at);
    Ok(())
}

fn parse_gender(text: &str) -> anyhow::Result<Gender> {
    match Gender::from_code(text) {
        Gender::Unspecified if text != Gender::Unspecified.code() => {
            bail!("--gender must be female, male or unspecified, not {text:?}")
        }
        gender => Ok(gender),
    }
}

/// A ruleset file: a bare ruleset, or what `ruleset show` prints, the
/// version it was shown at and the ruleset (`{"version": 3, "ruleset":
/// {…}}`), so that show, edit, publish round-trips. The version shown is
/// not checked: publishing makes the next version either way.
fn ruleset_file(text: &str) -> anyhow::Result<Ruleset> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let shown = value.as_object().is_some_and(|fields| {
        fields.contains_key("ruleset") && fields.keys().all(|k| k == "ruleset" || k == "version")
    });
    let ruleset = if shown {
        value
            .get("ruleset")
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    } else {
        value
    };
    Ok(serde_json::from_value(ruleset)?)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.send(Method::GET, path, None::<&()>).await
    }

    async fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<serde_json::Value> {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(serde_json::Value::Null);
        }
        let text = response
            .text()
            .await
            .with_context(|| format!("read the reply of {url}"))?;
        if status.is_success() {
            return serde_json::from_str(&text)
                .with_context(|| format!("decode the reply of {url}"));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => {
                let mut message = format!("{status} {}: {}", body.error, body.message);
                for fault in &body.faults {
                    message.push_str(&format!("\n  - {fault}"));
                }
                bail!(message)
            }
            Err(_) => bail!("{status}: {text}"),
        }
    }
}

/// The `--store` ids, parsed.
fn store_ids(stores: Vec<i64>) -> anyhow::Result<Vec<shared::ids::StoreId>> {
    stores
        .into_iter()
        .map(shared::ids::StoreId::new)
        .collect::<Result<Vec<_>, _>>()
        .context("--store")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reads_a_bare_ruleset_and_what_show_printed() {
        let bare = include_str!("../examples/rulesets/grocery.json");
        let ruleset = ruleset_file(bare).expect("a bare ruleset");
        let shown = serde_json::to_string_pretty(&serde_json::json!({
            "version": 3,
            "ruleset": ruleset,
        }))
        .expect("json");
        assert_eq!(ruleset_file(&shown).expect("the show output"), ruleset);
        let unknown = ruleset_file(r#"{"rules": {}}"#).unwrap_err();
        assert!(
            format!("{unknown:#}").contains("unknown field"),
            "{unknown:#}"
        );
    }
}
