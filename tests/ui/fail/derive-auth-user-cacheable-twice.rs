#[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
#[auth_user(table = "accounts", cacheable)]
#[auth_user(cacheable)]
struct Account {
    id: i64,
    is_active: bool,
}

fn main() {}
