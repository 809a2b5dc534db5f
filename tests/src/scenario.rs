//! The chain the demo and the tests run: a merchant with two stores, a
//! programme with three tiers and bonus points, a dairy promotion, a small
//! catalog and a few customers. Deterministic, so runs are comparable.

use chrono::{NaiveDate, NaiveTime};
use serde_json::json;
use shared::identity::{Email, Gender, PhoneNumber};
use shared::ids::{Category, MerchantId, PromotionId, Sku};
use shared::money::BasisPoints;
use shared::ruleset::{Apply, HourRange, Promotion, Reward, Target};
use sync_server::wire::admin::{CustomerView, Merchant, NewCustomer, NewStore, Store};

use crate::clients::AdminClient;

use test_kit::pricing_load::promotion_defaults;
/// The programme and its dairy promotion live in the test kit, beside the
/// rulesets generated from them for the perf harness.
pub use test_kit::pricing_load::{dairy_promotion, programme};

/// A product on the shelf.
#[derive(Clone, Copy, Debug)]
pub struct Product {
    /// SKU (EAN-13).
    pub sku: &'static str,
    /// Name on the receipt.
    pub name: &'static str,
    /// Category.
    pub category: &'static str,
    /// Unit price in kopecks.
    pub price: i64,
}

/// The shelf.
pub const CATALOG: &[Product] = &[
    Product {
        sku: "4600000000011",
        name: "Молоко 3,2% 1 л",
        category: "dairy",
        price: 8_990,
    },
    Product {
        sku: "4600000000028",
        name: "Кефир 1% 900 г",
        category: "dairy",
        price: 7_450,
    },
    Product {
        sku: "4600000000035",
        name: "Сыр Российский 200 г",
        category: "dairy",
        price: 23_900,
    },
    Product {
        sku: "4600000000042",
        name: "Хлеб Бородинский",
        category: "bakery",
        price: 6_290,
    },
    Product {
        sku: "4600000000059",
        name: "Батон нарезной",
        category: "bakery",
        price: 4_990,
    },
    Product {
        sku: "4600000000066",
        name: "Кофе зерновой 1 кг",
        category: "grocery",
        price: 129_900,
    },
    Product {
        sku: "4600000000073",
        name: "Гречка 900 г",
        category: "grocery",
        price: 11_490,
    },
    Product {
        sku: "4600000000080",
        name: "Яблоки Голден 1 кг",
        category: "produce",
        price: 15_990,
    },
    Product {
        sku: "4600000000097",
        name: "Шоколад горький",
        category: "sweets",
        price: 13_990,
    },
    Product {
        sku: "4600000000103",
        name: "Сигареты",
        category: "tobacco",
        price: 21_500,
    },
];

/// A line for the till API.
pub fn line_json(p: &Product, quantity: u32) -> serde_json::Value {
    json!({"sku": p.sku, "name": p.name, "category": p.category, "quantity": quantity, "unit_price": p.price})
}

fn bp(v: u32) -> BasisPoints {
    BasisPoints::new(v).expect("constant in range")
}

/// 20 % off the Borodinsky bread, funded by the bakery: the promotion the
/// demo publishes mid-run.
pub fn bread_promotion() -> Promotion {
    Promotion {
        id: PromotionId::parse("borodinsky-20").expect("constant"),
        name: "Бородинский −20%".into(),
        description: "Хлебозавод №1 дарит скидку 20%".into(),
        target: Target::Skus {
            skus: vec![Sku::parse(CATALOG[3].sku).expect("constant")],
        },
        reward: Reward::PercentOff {
            percent: bp(2000),
            apply: Apply::Each,
        },
        starts_at: None,
        ends_at: None,
        stores: vec![],
        priority: 10,
        combines_with_tier: false,
        funded_by: Some("Хлебозавод №1".into()),
        ..promotion_defaults()
    }
}

/// 25 % off coffee during the happy hours `from`..`to`, store-local time.
pub fn happy_hour_promotion(from: NaiveTime, to: NaiveTime) -> Promotion {
    let mut p = Promotion {
        id: PromotionId::parse("coffee-happy-hour").expect("constant"),
        name: "Кофейный час −25%".into(),
        description: "Скидка 25% на кофе в счастливые часы".into(),
        target: Target::Categories {
            categories: vec![Category::parse("grocery").expect("constant")],
        },
        reward: Reward::PercentOff {
            percent: bp(2500),
            apply: Apply::Each,
        },
        combines_with_tier: true,
        ..promotion_defaults()
    };
    p.exclude.skus = vec![Sku::parse(CATALOG[6].sku).expect("constant")];
    p.conditions.schedule.hours = vec![HourRange { from, to }];
    p
}

/// Chocolate three for two: for every two bars, the cheapest third free.
pub fn chocolate_promotion() -> Promotion {
    Promotion {
        id: PromotionId::parse("chocolate-3for2").expect("constant"),
        name: "Шоколад 3 по цене 2".into(),
        description: "Третья плитка в подарок".into(),
        target: Target::Categories {
            categories: vec![Category::parse("sweets").expect("constant")],
        },
        reward: Reward::BuyXGetY {
            buy: 2,
            get: 1,
            free_sku: None,
            percent: BasisPoints::FULL,
        },
        combines_with_tier: true,
        ..promotion_defaults()
    }
}

/// A customer of the chain as they sign up.
#[derive(Clone, Copy, Debug)]
pub struct Shopper {
    /// Name.
    pub name: &'static str,
    /// Phone number.
    pub phone: &'static str,
    /// E-mail address.
    pub email: &'static str,
    /// Gender.
    pub gender: Gender,
    /// Birth date as (year, month, day).
    pub born: (i32, u32, u32),
}

/// The customers.
pub const CUSTOMERS: &[Shopper] = &[
    Shopper {
        name: "Анна Смирнова",
        phone: "+79160000001",
        email: "anna.smirnova@example.ru",
        gender: Gender::Female,
        born: (1994, 3, 12),
    },
    Shopper {
        name: "Иван Петров",
        phone: "+79160000002",
        email: "ivan.petrov@example.ru",
        gender: Gender::Male,
        born: (1981, 7, 30),
    },
    Shopper {
        name: "Мария Иванова",
        phone: "+79160000003",
        email: "maria.ivanova@example.ru",
        gender: Gender::Female,
        born: (1968, 11, 2),
    },
    Shopper {
        name: "Олег Кузнецов",
        phone: "+79160000004",
        email: "oleg.kuznetsov@example.ru",
        gender: Gender::Male,
        born: (2003, 1, 19),
    },
    Shopper {
        name: "Елена Соколова",
        phone: "+79160000005",
        email: "elena.sokolova@example.ru",
        gender: Gender::Female,
        born: (1957, 5, 8),
    },
    Shopper {
        name: "Дмитрий Волков",
        phone: "+79160000006",
        email: "dmitry.volkov@example.ru",
        gender: Gender::Male,
        born: (1990, 9, 23),
    },
];

/// The chain as created on the server.
pub struct Chain {
    /// The merchant.
    pub merchant: Merchant,
    /// Two stores: Moscow and Novosibirsk.
    pub stores: Vec<Store>,
    /// The customers.
    pub customers: Vec<CustomerView>,
}

/// Creates the merchant, brand, stores, programme and customers.
pub async fn create_chain(admin: &AdminClient) -> anyhow::Result<Chain> {
    let merchant = admin.merchant("Ромашка").await?;
    let brand = admin.brand(merchant.id, "Ромашка у дома").await?;
    let mut stores = Vec::new();
    for (name, tz) in [
        ("Тверская, 12", "Europe/Moscow"),
        ("Красный проспект, 5", "Asia/Novosibirsk"),
    ] {
        let store = NewStore {
            brand_id: Some(brand.id),
            name: name.into(),
            timezone: tz.parse()?,
        };
        stores.push(admin.store(merchant.id, &store).await?);
    }
    admin.publish(merchant.id, &programme()).await?;
    let mut customers = Vec::new();
    for shopper in CUSTOMERS {
        let (y, m, d) = shopper.born;
        let new = NewCustomer {
            name: shopper.name.into(),
            phone: Some(PhoneNumber::parse(shopper.phone)?),
            email: Some(Email::parse(shopper.email)?),
            gender: shopper.gender,
            birth_date: NaiveDate::from_ymd_opt(y, m, d),
        };
        customers.push(admin.customer(merchant.id, &new).await?);
    }
    Ok(Chain {
        merchant,
        stores,
        customers,
    })
}

/// The merchant id of a chain.
impl Chain {
    /// Its merchant id.
    pub fn merchant_id(&self) -> MerchantId {
        self.merchant.id
    }
}

/// A small deterministic generator (xorshift64*), so scripted checks are the
/// same on every run.
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// An index drawn with the given relative weights.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut pick = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// The next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}
