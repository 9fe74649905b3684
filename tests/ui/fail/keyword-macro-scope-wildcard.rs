tokenauth::keyword!(pub Orders = "Token", scopes = ["orders:*"]);

fn main() {}
