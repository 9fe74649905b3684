tokenauth::keyword!(pub Orders = "Token", scopes = "orders:read");

fn main() {}
