tokenauth::keyword!(pub Orders = "Token", scopes = ["orders:read", "orders:write", "orders:read"]);

fn main() {}
