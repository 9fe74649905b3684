tokenauth::keyword!(pub Orders = "Token", scope = ["orders:read"]);

fn main() {}
