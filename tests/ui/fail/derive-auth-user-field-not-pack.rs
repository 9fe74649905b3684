#[derive(Clone, sqlx::Type)]
#[sqlx(transparent)]
struct Email(String);

#[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
#[auth_user(table = "accounts", cacheable)]
struct Account {
    id: i64,
    email: Email,
    is_active: bool,
}

fn main() {}
