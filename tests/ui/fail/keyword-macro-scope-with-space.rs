tokenauth::keyword!(pub Orders = "Token", scopes = ["orders:read", "orders write"]);

fn main() {}
