//! Typed HTTP clients for the server's admin API and an agent's till API,
//! built on the DTOs in `shared::wire`, so tests read like the users' calls.

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::ids::{CustomerId, MerchantId, StoreId};
use shared::ruleset::{Promotion, Ruleset};
use shared::wire::ErrorBody;
use shared::wire::till::{
    AgentStatus, AttachCustomer, CheckView, Committed, Redeem, ReturnCommitted, ReturnRequest,
    SetCoupons,
};
use sync_server::wire::admin::{
    Brand, CreatedApiKey, CustomerView, EnrollmentToken, IssuedToken, Merchant, NewApiKey,
    NewBrand, NewCustomer, NewEnrollmentToken, NewMerchant, NewStore, OverdraftReport, Published,
    Register, Stats, Store,
};
use uuid::Uuid;

/// An HTTP reply that was not a success, kept whole for assertions.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {body:?}")]
pub struct HttpError {
    /// The status.
    pub status: StatusCode,
    /// The decoded error body, if it was one.
    pub body: Option<ErrorBody>,
}

async fn call<T: DeserializeOwned>(
    http: &reqwest::Client,
    method: Method,
    url: String,
    bearer: Option<&str>,
    body: Option<&(impl Serialize + ?Sized)>,
) -> anyhow::Result<T> {
    let mut req = http.request(method, &url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("request to {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.json::<ErrorBody>().await.ok();
        return Err(HttpError { status, body }.into());
    }
    if status == StatusCode::NO_CONTENT {
        return serde_json::from_str("null").context("empty reply where a body was expected");
    }
    resp.json::<T>()
        .await
        .with_context(|| format!("decode reply of {url}"))
}

/// The status of a failed call, for assertions on 4xx answers.
pub fn status_of(err: &anyhow::Error) -> Option<StatusCode> {
    err.downcast_ref::<HttpError>().map(|e| e.status)
}

/// The server's admin API.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    /// A client for `base` (such as `http://127.0.0.1:8640`).
    pub fn new(base: &str, admin_token: &str) -> Self {
        Self::with_http(base, admin_token, reqwest::Client::new())
    }

    /// A client for `base` over `http` (one that trusts a private CA).
    pub fn with_http(base: &str, admin_token: &str, http: reqwest::Client) -> Self {
        AdminClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: admin_token.to_owned(),
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        call(
            &self.http,
            method,
            format!("{}{path}", self.base),
            Some(&self.token),
            body,
        )
        .await
    }

    /// The same server's admin API under another bearer token (an API
    /// key), as a merchant's own integration calls it.
    #[must_use]
    pub fn with_token(&self, token: &str) -> Self {
        AdminClient {
            http: self.http.clone(),
            base: self.base.clone(),
            token: token.to_owned(),
        }
    }

    /// Creates an API key of the merchant; its token is shown once.
    pub async fn api_key(
        &self,
        merchant: MerchantId,
        key: &NewApiKey,
    ) -> anyhow::Result<CreatedApiKey> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            Some(key),
        )
        .await
    }

    /// One analytics view (`sales`, `promotions`…) as JSON, with the HQ
    /// pages' filter as a query string (`from=2026-03-01&to=…`, or empty).
    pub async fn analytics<T: DeserializeOwned>(
        &self,
        merchant: MerchantId,
        view: &str,
        query: &str,
    ) -> anyhow::Result<T> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/analytics/{view}?{query}"),
            None::<&()>,
        )
        .await
    }

    /// One analytics table as the CSV HQ downloads (the BOM removed).
    pub async fn analytics_csv(
        &self,
        merchant: MerchantId,
        table: &str,
        query: &str,
    ) -> anyhow::Result<String> {
        let url = format!(
            "{}/api/v1/admin/merchants/{merchant}/analytics/export/{table}?{query}",
            self.base
        );
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("request to {url}"))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.json::<ErrorBody>().await.ok();
            return Err(HttpError { status, body }.into());
        }
        let text = resp.text().await?;
        Ok(text.trim_start_matches('\u{feff}').to_owned())
    }

    /// The customer change feed's work so far.
    pub async fn customer_feed(
        &self,
    ) -> anyhow::Result<sync_server::wire::admin::CustomerFeedMetrics> {
        self.send(Method::GET, "/api/v1/admin/customer-feed", None::<&()>)
            .await
    }

    /// Invites a person of `merchant` with `role`; the one-time link.
    pub async fn invite(
        &self,
        merchant: MerchantId,
        email: &str,
        role: &str,
    ) -> anyhow::Result<sync_server::wire::admin::OneTimeLink> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/invitations"),
            Some(&serde_json::json!({"email": email, "role": role, "stores": []})),
        )
        .await
    }

    /// Credits (positive) or debits (negative) a customer's points.
    pub async fn adjust_points(
        &self,
        customer: CustomerId,
        adjustment: &sync_server::wire::admin::NewPointsAdjustment,
    ) -> anyhow::Result<sync_server::wire::admin::AdjustmentReceipt> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/customers/{customer}/adjustments"),
            Some(adjustment),
        )
        .await
    }

    /// Creates a merchant.
    pub async fn merchant(&self, name: &str) -> anyhow::Result<Merchant> {
        let body = NewMerchant {
            name: name.into(),
            currency: shared::money::Currency::RUB,
        };
        self.send(Method::POST, "/api/v1/admin/merchants", Some(&body))
            .await
    }

    /// Creates a brand.
    pub async fn brand(&self, merchant: MerchantId, name: &str) -> anyhow::Result<Brand> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/brands"),
            Some(&NewBrand { name: name.into() }),
        )
        .await
    }

    /// Creates a store.
    pub async fn store(&self, merchant: MerchantId, store: &NewStore) -> anyhow::Result<Store> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/stores"),
            Some(store),
        )
        .await
    }

    /// Creates a one-time enrollment token for a store.
    pub async fn enrollment_token(&self, store: StoreId) -> anyhow::Result<EnrollmentToken> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/stores/{store}/enrollment-tokens"),
            Some(&NewEnrollmentToken::default()),
        )
        .await
    }

    /// Publishes a whole ruleset.
    pub async fn publish(
        &self,
        merchant: MerchantId,
        ruleset: &Ruleset,
    ) -> anyhow::Result<Published> {
        self.send(
            Method::PUT,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            Some(ruleset),
        )
        .await
    }

    /// The merchant's current ruleset and its version.
    pub async fn ruleset(
        &self,
        merchant: MerchantId,
    ) -> anyhow::Result<sync_server::db::CurrentRuleset> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            None::<&()>,
        )
        .await
    }

    /// Adds or replaces one promotion and publishes.
    pub async fn publish_promotion(
        &self,
        merchant: MerchantId,
        promotion: &Promotion,
    ) -> anyhow::Result<Published> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/promotions"),
            Some(promotion),
        )
        .await
    }

    /// Creates a customer.
    pub async fn customer(
        &self,
        merchant: MerchantId,
        customer: &NewCustomer,
    ) -> anyhow::Result<CustomerView> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/customers"),
            Some(customer),
        )
        .await
    }

    /// A customer with standing and history.
    pub async fn customer_view(&self, customer: CustomerId) -> anyhow::Result<CustomerView> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/customers/{customer}"),
            None::<&()>,
        )
        .await
    }

    /// Issues a personal page link for a customer.
    pub async fn customer_link(
        &self,
        customer: CustomerId,
    ) -> anyhow::Result<sync_server::wire::CustomerLink> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/customers/{customer}/link"),
            None::<&()>,
        )
        .await
    }

    /// Issues a token for a customer's phone.
    pub async fn customer_token(&self, customer: CustomerId) -> anyhow::Result<IssuedToken> {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/customers/{customer}/token"),
            None::<&()>,
        )
        .await
    }

    /// The merchant's statistics.
    pub async fn stats(&self, merchant: MerchantId) -> anyhow::Result<Stats> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/stats"),
            None::<&()>,
        )
        .await
    }

    /// How the server's own pricing of the merchant's records compares with
    /// the tills'.
    pub async fn mismatches(
        &self,
        merchant: MerchantId,
    ) -> anyhow::Result<sync_server::wire::RepriceReport> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/mismatches"),
            None::<&()>,
        )
        .await
    }

    /// The merchant's overdraft report.
    pub async fn overdrafts(&self, merchant: MerchantId) -> anyhow::Result<OverdraftReport> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/overdrafts"),
            None::<&()>,
        )
        .await
    }

    /// The merchant's quota leases and the spend per register.
    pub async fn leases(
        &self,
        merchant: MerchantId,
    ) -> anyhow::Result<sync_server::wire::admin::LeaseReport> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/leases"),
            None::<&()>,
        )
        .await
    }

    /// The merchant's registers.
    pub async fn registers(&self, merchant: MerchantId) -> anyhow::Result<Vec<Register>> {
        self.send(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/registers"),
            None::<&()>,
        )
        .await
    }
}

/// A till's view of its agent's local API.
#[derive(Clone)]
pub struct TillClient {
    http: reqwest::Client,
    base: String,
}

impl TillClient {
    /// A client for the agent at `base`.
    pub fn new(base: &str) -> Self {
        TillClient {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The agent's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        call(
            &self.http,
            method,
            format!("{}{path}", self.base),
            None,
            body,
        )
        .await
    }

    /// Sends raw bytes as a JSON body and returns the status and body text.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: &str,
    ) -> anyhow::Result<(StatusCode, String)> {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        Ok((resp.status(), resp.text().await?))
    }

    /// Opens a check.
    pub async fn open(&self) -> anyhow::Result<CheckView> {
        self.send(Method::POST, "/v1/checks", None::<&()>).await
    }

    /// Opens a check for `customer` (if any) with `lines` of the catalogue
    /// (product, quantity).
    pub async fn open_with(
        &self,
        customer: Option<&AttachCustomer>,
        lines: &[(&crate::scenario::Product, u32)],
    ) -> anyhow::Result<CheckView> {
        let mut view = self.open().await?;
        if let Some(customer) = customer {
            view = self.attach(view.id, customer).await?;
        }
        for (product, quantity) in lines {
            view = self
                .add_line(view.id, &crate::scenario::line_json(product, *quantity))
                .await?;
        }
        Ok(view)
    }

    /// The check as it stands.
    pub async fn check(&self, id: Uuid) -> anyhow::Result<CheckView> {
        self.send(Method::GET, &format!("/v1/checks/{id}"), None::<&()>)
            .await
    }

    /// Adds a line given as JSON (so tests can send bad values too).
    pub async fn add_line(&self, id: Uuid, line: &serde_json::Value) -> anyhow::Result<CheckView> {
        self.send(Method::POST, &format!("/v1/checks/{id}/lines"), Some(line))
            .await
    }

    /// Removes a line.
    pub async fn remove_line(&self, id: Uuid, line_id: u32) -> anyhow::Result<CheckView> {
        self.send(
            Method::DELETE,
            &format!("/v1/checks/{id}/lines/{line_id}"),
            None::<&()>,
        )
        .await
    }

    /// Attaches a customer.
    pub async fn attach(&self, id: Uuid, how: &AttachCustomer) -> anyhow::Result<CheckView> {
        self.send(Method::PUT, &format!("/v1/checks/{id}/customer"), Some(how))
            .await
    }

    /// Prices the check.
    pub async fn price(&self, id: Uuid) -> anyhow::Result<CheckView> {
        self.send(Method::POST, &format!("/v1/checks/{id}/price"), None::<&()>)
            .await
    }

    /// Commits the check.
    pub async fn commit(&self, id: Uuid) -> anyhow::Result<Committed> {
        self.send(
            Method::POST,
            &format!("/v1/checks/{id}/commit"),
            None::<&()>,
        )
        .await
    }

    /// Cancels the check.
    pub async fn cancel(&self, id: Uuid) -> anyhow::Result<()> {
        self.send::<Option<()>>(
            Method::POST,
            &format!("/v1/checks/{id}/cancel"),
            None::<&()>,
        )
        .await
        .map(drop)
    }

    /// Replaces the coupon codes entered on the check.
    pub async fn coupons(&self, id: Uuid, codes: &[&str]) -> anyhow::Result<CheckView> {
        let body = SetCoupons {
            codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        };
        self.send(
            Method::PUT,
            &format!("/v1/checks/{id}/coupons"),
            Some(&body),
        )
        .await
    }

    /// Asks to pay with up to `points` points.
    pub async fn redeem(&self, id: Uuid, points: i64) -> anyhow::Result<CheckView> {
        self.send(
            Method::POST,
            &format!("/v1/checks/{id}/redeem"),
            Some(&Redeem { points }),
        )
        .await
    }

    /// Returns lines of a sale in the agent's outbox.
    pub async fn return_items(&self, request: &ReturnRequest) -> anyhow::Result<ReturnCommitted> {
        self.send(Method::POST, "/v1/returns", Some(request)).await
    }

    /// The agent's status.
    pub async fn status(&self) -> anyhow::Result<AgentStatus> {
        self.send(Method::GET, "/v1/status", None::<&()>).await
    }
}

/// Fails unless `result` is an HTTP error with `status`.
pub fn expect_status<T: std::fmt::Debug>(
    result: anyhow::Result<T>,
    status: StatusCode,
) -> anyhow::Result<Option<ErrorBody>> {
    match result {
        Ok(v) => bail!("expected HTTP {status}, got success {v:?}"),
        Err(e) => match e.downcast::<HttpError>() {
            Ok(h) if h.status == status => Ok(h.body),
            Ok(h) => bail!("expected HTTP {status}, got {h}"),
            Err(e) => bail!("expected HTTP {status}, got {e:#}"),
        },
    }
}
