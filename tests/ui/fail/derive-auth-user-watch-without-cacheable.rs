#[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
#[auth_user(table = "accounts", watch = WATCH)]
struct Account {
    id: i64,
    is_active: bool,
}

fn main() {}
