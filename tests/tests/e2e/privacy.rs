//! Tills hold no one's personal data (issue 10, part 4; 152-FZ): a real
//! till caches every customer of a real server and sells to each of them
//! (by typed phone and by card, one on their birthday), and its database
//! file and log hold none of their phones, e-mail addresses, surnames or
//! birth dates, while the cashier still greets them by their first name.

use anyhow::{Context as _, ensure};
use chrono::{Datelike as _, Utc};
use shared::identity::{Ean13, Email, Gender, PhoneNumber};
use shared::pricing::RuleRef;
use shared::ruleset::BirthdayBonus;
use shared::wire::till::AttachCustomer;
use sync_server::wire::admin::NewCustomer;
use system_tests::scenario::{self, CATALOG, line_json};

use crate::{WAIT, agent_for, faults::server_with_chain};

/// What must never reach a till of one customer, as text to look for.
struct Personal {
    name: String,
    phone: PhoneNumber,
    email: Email,
    birth_date: chrono::NaiveDate,
}

impl Personal {
    /// Each needle with what it is: the phone as stored and as digits
    /// alone (with and without the country code), the e-mail, the surname
    /// (every word of the name after the first), the birth date as ISO
    /// text and as printed in Russia.
    fn needles(&self) -> Vec<(String, String)> {
        let digits: String = self
            .phone
            .as_str()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let mut needles = vec![
            ("phone".to_owned(), self.phone.as_str().to_owned()),
            ("phone digits".to_owned(), digits.clone()),
            (
                "phone without the country code".to_owned(),
                digits[1..].to_owned(),
            ),
            ("e-mail".to_owned(), self.email.as_str().to_owned()),
            ("birth date".to_owned(), self.birth_date.to_string()),
            (
                "birth date, printed".to_owned(),
                self.birth_date.format("%d.%m.%Y").to_string(),
            ),
        ];
        for surname in self.name.split_whitespace().skip(1) {
            needles.push(("surname".to_owned(), surname.to_owned()));
        }
        needles
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every personal datum of `customers` found in the till's database files
/// (the database, its `-wal` and `-shm`), as `file: what of whom`.
fn personal_data_in(
    data_dir: &std::path::Path,
    customers: &[Personal],
) -> anyhow::Result<Vec<String>> {
    let db = pos_agent::database_path(data_dir);
    let mut found = Vec::new();
    let mut read = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        read += bytes.len();
        for customer in customers {
            for (what, needle) in customer.needles() {
                if contains(&bytes, needle.as_bytes()) {
                    found.push(format!(
                        "{}: {what} of {} ({needle})",
                        path.display(),
                        customer.name
                    ));
                }
            }
        }
    }
    ensure!(read > 0, "no database file in {}", data_dir.display());
    Ok(found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tills_database_holds_no_phone_email_surname_or_birth_date_of_any_customer()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    // A birthday bonus, and a customer whose birthday is today in Moscow.
    let mut rules = scenario::programme();
    rules.programme.birthday_bonus = Some(BirthdayBonus {
        points: 50,
        days_before: 3,
        days_after: 3,
    });
    let published = admin.publish(chain.merchant_id(), &rules).await?;
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Moscow)
        .date_naive();
    let born = today
        .with_year(today.year() - 30)
        .or_else(|| {
            today
                .pred_opt()
                .and_then(|d| d.with_year(today.year() - 30))
        })
        .context("a birth date 30 years ago")?;
    let vera = admin
        .customer(
            chain.merchant_id(),
            &NewCustomer {
                name: "Вера Андреевна Бирюкова".into(),
                phone: Some(PhoneNumber::parse("+79160000099")?),
                email: Some(Email::parse("vera.biryukova@example.ru")?),
                gender: Gender::Female,
                birth_date: Some(born),
            },
        )
        .await?;
    let mut customers = chain.customers.clone();
    customers.push(vera);
    let personal: Vec<Personal> = customers
        .iter()
        .map(|c| {
            Ok(Personal {
                name: c.name.clone(),
                phone: c.phone.clone().context("every customer has a phone")?,
                email: c.email.clone().context("every customer has an e-mail")?,
                birth_date: c.birth_date.context("every customer has a birth date")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;

    let mut agent = agent_for(&server, chain.stores[0].id, &tmp.path().join("till-1")).await?;
    agent.wait_ruleset(published.version, WAIT).await?;
    agent
        .wait_status(WAIT, |s| s.cached_customers >= customers.len() as i64)
        .await?;

    // A sale to everyone: by typed phone and by card in turn.
    for (i, customer) in customers.iter().enumerate() {
        let how = if i % 2 == 0 {
            AttachCustomer::Phone(personal[i].phone.as_str().to_owned())
        } else {
            AttachCustomer::Card(Ean13::card_for(customer.id).as_str().to_owned())
        };
        let check = agent.till.open().await?;
        let view = agent.till.attach(check.id, &how).await?;
        let greeted = view
            .customer
            .as_ref()
            .context("the customer is identified")?;
        ensure!(greeted.id == customer.id, "{how:?} found {greeted:?}");
        let first = customer.name.split_whitespace().next().unwrap_or_default();
        ensure!(
            greeted.name == first,
            "greeted as {:?}, not {first:?}",
            greeted.name
        );
        agent
            .till
            .add_line(check.id, &line_json(&CATALOG[5], 2))
            .await?;
        let committed = agent.till.commit(check.id).await?;
        let bonus = committed
            .pricing
            .points
            .iter()
            .any(|p| p.rule == RuleRef::BirthdayBonus);
        ensure!(
            bonus == (customer.id == customers[customers.len() - 1].id),
            "the birthday bonus goes to the birthday only: {customer:?} {committed:?}"
        );
    }
    agent.wait_synced(WAIT).await?;
    // The server's snapshots after the sales reach the cache too.
    agent
        .wait_status(WAIT, |s| s.cached_customers >= customers.len() as i64)
        .await?;

    // While it runs, and after it stopped.
    let found = personal_data_in(agent.data_dir(), &personal)?;
    ensure!(
        found.is_empty(),
        "the running till holds personal data: {found:#?}"
    );
    agent.stop().await?;
    let found = personal_data_in(agent.data_dir(), &personal)?;
    ensure!(
        found.is_empty(),
        "the stopped till holds personal data: {found:#?}"
    );
    Ok(())
}
