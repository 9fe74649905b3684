#[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
#[auth_user(table = "accounts")]
struct Account {
    id: i64,
    disabled: bool,
}

fn main() {}
