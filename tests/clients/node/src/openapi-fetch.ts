// The 11 steps through openapi-fetch, on the types openapi-typescript generated from the
// quickstart's served document (../gen/openapi-typescript/schema.ts). Every body is checked to
// have its generated type at compile time (`expectType<Equal<…>>`, no casts), then its value at
// run time. openapi-fetch reads no security scheme: each call sends its `Authorization` header.
import createClient from "openapi-fetch";
import type {
  ErrorResponseJSON,
  RequestBodyJSON,
  SuccessResponseJSON,
} from "openapi-typescript-helpers";
import type { components, paths } from "../gen/openapi-typescript/schema.js";
import {
  BAD_CREDENTIALS,
  type Equal,
  expectEqual,
  expectType,
  INVALID_TOKEN,
  Key,
  NO_PERMISSION,
  NOT_PROVIDED,
  present,
  SCOPE,
  settings,
  Steps,
} from "./steps.js";

type Schemas = components["schemas"];
type Login = paths["/auth/token"]["post"];

// openapi-typescript-helpers' `*JSON` types, which look for `…/json` media keys: every JSON body
// of the served document is `application/json` (poem-openapi's `; charset=utf-8` dropped), so
// each resolves to its schema — the login's success body is `{ token: string; expiry?: string | null }`, every one of
// its errors the one `ObtainTokenErrors`, which carries `non_field_errors` — where a body under
// another media type would leave its content map, or `never`.
type Op<P extends keyof paths, M extends "get" | "post"> = paths[P][M];
expectType<Equal<SuccessResponseJSON<Login>, { token: string; expiry?: string | null }>>();
expectType<Equal<SuccessResponseJSON<Login>, Schemas["ObtainedToken"]>>();
expectType<Equal<ErrorResponseJSON<Login>, Schemas["ObtainTokenErrors"]>>();
expectType<Equal<ErrorResponseJSON<Login>["non_field_errors"], string[] | undefined>>();
expectType<Equal<RequestBodyJSON<Login>, Schemas["ObtainTokenRequest"]>>();
expectType<Equal<SuccessResponseJSON<Op<"/me", "get">>, Schemas["Me"]>>();
expectType<Equal<ErrorResponseJSON<Op<"/me", "get">>, Schemas["ErrorDetail"]>>();
expectType<Equal<SuccessResponseJSON<Op<"/bearer/me", "get">>, Schemas["Me"]>>();
expectType<Equal<ErrorResponseJSON<Op<"/bearer/me", "get">>, Schemas["ErrorDetail"]>>();
expectType<Equal<SuccessResponseJSON<Op<"/orders", "get">>, string[]>>();
expectType<Equal<ErrorResponseJSON<Op<"/orders", "get">>, Schemas["ErrorDetail"]>>();
expectType<Equal<ErrorResponseJSON<Op<"/auth/logout", "post">>, Schemas["ErrorDetail"]>>();
expectType<Equal<ErrorResponseJSON<Op<"/auth/logout-all", "post">>, Schemas["ErrorDetail"]>>();

const s = settings();
const client = createClient<paths>({ baseUrl: s.apiUrl });

const token = (key: string) => ({ Authorization: `Token ${key}` });
const scoped = new Key("the login with a scope");
const unscoped = new Key("the login without scopes");
const steps = new Steps("openapi-fetch");

await steps.step('GET /api/ping: 200 "pong"', async () => {
  const { data, response } = await client.GET("/ping", { parseAs: "text" });
  expectEqual("status", response.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, string>>();
  expectEqual("body", body, "pong");
});

await steps.step("POST /api/auth/token with a wrong password: typed 400 non_field_errors", async () => {
  const { error, response } = await client.POST("/auth/token", {
    body: { username: s.username, password: `${s.password}-wrong` },
  });
  expectEqual("status", response.status, 400);
  const body = present("the error body", error);
  expectType<Equal<typeof body, Schemas["ObtainTokenErrors"]>>();
  expectEqual("non_field_errors", body.non_field_errors, [BAD_CREDENTIALS]);
});

await steps.step(`POST /api/auth/token with scopes ["${SCOPE}"]: typed 200 with a token`, async () => {
  const { data, response } = await client.POST("/auth/token", {
    body: { username: s.username, password: s.password, scopes: [SCOPE] },
  });
  expectEqual("status", response.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, Schemas["ObtainedToken"]>>();
  expectEqual("the key's form", /^[0-9a-f]{40}$/.test(body.token), true);
  scoped.set(body.token);
});

await steps.step("GET /api/me with `Token <key>`: typed Me with the username", async () => {
  const { data, response } = await client.GET("/me", { headers: token(scoped.get()) });
  expectEqual("status", response.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, Schemas["Me"]>>();
  expectEqual("username", body.username, s.username);
});

await steps.step("GET /api/bearer/me with `Bearer <key>`: typed Me with the username", async () => {
  const { data, response } = await client.GET("/bearer/me", {
    headers: { Authorization: `Bearer ${scoped.get()}` },
  });
  expectEqual("status", response.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, Schemas["Me"]>>();
  expectEqual("username", body.username, s.username);
});

await steps.step(`GET /api/orders with the ${SCOPE} key: typed 200 list`, async () => {
  const { data, response } = await client.GET("/orders", { headers: token(scoped.get()) });
  expectEqual("status", response.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, string[]>>();
  expectEqual("is a list", Array.isArray(body), true);
});

await steps.step("GET /api/orders with a key without the scope: typed 403", async () => {
  const login = await client.POST("/auth/token", { body: { username: s.username, password: s.password } });
  expectEqual("the second login's status", login.response.status, 200);
  unscoped.set(present("the second login's body", login.data).token);
  const { error, response } = await client.GET("/orders", { headers: token(unscoped.get()) });
  expectEqual("status", response.status, 403);
  const body = present("the error body", error);
  expectType<Equal<typeof body, Schemas["ErrorDetail"]>>();
  expectEqual("body", body, { detail: NO_PERMISSION });
});

await steps.step("GET /api/me without credentials: typed 401 (not provided)", async () => {
  const { error, response } = await client.GET("/me");
  expectEqual("status", response.status, 401);
  const body = present("the error body", error);
  expectType<Equal<typeof body, Schemas["ErrorDetail"]>>();
  expectEqual("body", body, { detail: NOT_PROVIDED });
});

await steps.step("POST /api/auth/logout with the scoped key: 204", async () => {
  const { error, response } = await client.POST("/auth/logout", { headers: token(scoped.get()) });
  expectEqual("status", response.status, 204);
  expectEqual("error", error, undefined);
});

await steps.step("GET /api/me with the logged-out key: typed 401 (invalid token)", async () => {
  const { error, response } = await client.GET("/me", { headers: token(scoped.get()) });
  expectEqual("status", response.status, 401);
  const body = present("the error body", error);
  expectType<Equal<typeof body, Schemas["ErrorDetail"]>>();
  expectEqual("body", body, { detail: INVALID_TOKEN });
});

await steps.step("POST /api/auth/logout-all with the unscoped key: 204, then the key gets a typed 401", async () => {
  const logout = await client.POST("/auth/logout-all", { headers: token(unscoped.get()) });
  expectEqual("status", logout.response.status, 204);
  const { error, response } = await client.GET("/me", { headers: token(unscoped.get()) });
  expectEqual("status after logout-all", response.status, 401);
  const body = present("the error body", error);
  expectType<Equal<typeof body, Schemas["ErrorDetail"]>>();
  expectEqual("body", body, { detail: INVALID_TOKEN });
});

steps.finish();
