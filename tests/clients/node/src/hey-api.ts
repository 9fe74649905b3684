// The 11 steps through the SDK that @hey-api/openapi-ts generated from the quickstart's served
// document (../gen/hey-api/), with its bundled fetch client. Every body is checked to have its
// generated type at compile time (`expectType<Equal<…>>`, no casts), then its value at run time.
// The SDK reads the document's security schemes: each call passes the key as `auth`, and the
// client writes `Authorization` as the operation's scheme says (TokenAuth, an API key in that
// header, takes the keyword with the key; BearerAuth adds `Bearer ` itself).
import type { Auth } from "../gen/hey-api/client/index.js";
import { client } from "../gen/hey-api/client.gen.js";
import {
  type ErrorDetail,
  getBearerMe,
  type GetBearerMeResponse,
  getMe,
  type GetMeError,
  type GetMeResponse,
  getOrders,
  type GetOrdersError,
  type GetOrdersResponse,
  getPing,
  type GetPingResponse,
  logout,
  logoutAll,
  type Me,
  type ObtainedToken,
  obtainToken,
  type ObtainTokenError,
  type ObtainTokenErrors,
  type ObtainTokenResponse,
} from "../gen/hey-api/index.js";
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

// The SDK's types for the login: `{ token: string; expiry?: string | null }`, and every error status the one
// `ObtainTokenErrors`, which carries `non_field_errors`.
expectType<Equal<ObtainTokenResponse, { token: string; expiry?: string | null }>>();
expectType<Equal<ObtainTokenError, ObtainTokenErrors>>();
expectType<Equal<ObtainTokenError["non_field_errors"], string[] | undefined>>();
expectType<Equal<GetMeResponse, Me>>();
expectType<Equal<GetBearerMeResponse, Me>>();
expectType<Equal<GetOrdersResponse, string[]>>();
expectType<Equal<GetMeError, ErrorDetail>>();
expectType<Equal<GetOrdersError, ErrorDetail>>();
expectType<Equal<GetPingResponse, string>>();

const s = settings();
client.setConfig({ baseUrl: s.apiUrl });

/** The SDK's `auth` for a key: whichever of the document's two schemes the operation uses. */
const key =
  (value: string) =>
  (auth: Auth): string =>
    auth.type === "apiKey" ? `Token ${value}` : value;

const scoped = new Key("the login with a scope");
const unscoped = new Key("the login without scopes");
const steps = new Steps("hey-api");

await steps.step('GET /api/ping: 200 "pong"', async () => {
  const { data, response } = await getPing();
  expectEqual("status", response?.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, string>>();
  expectEqual("body", body, "pong");
});

await steps.step("POST /api/auth/token with a wrong password: typed 400 non_field_errors", async () => {
  const { error, response } = await obtainToken({
    body: { username: s.username, password: `${s.password}-wrong` },
  });
  expectEqual("status", response?.status, 400);
  const body = present("the error body", error);
  expectType<Equal<typeof body, ObtainTokenErrors>>();
  expectEqual("non_field_errors", body.non_field_errors, [BAD_CREDENTIALS]);
});

await steps.step(`POST /api/auth/token with scopes ["${SCOPE}"]: typed 200 with a token`, async () => {
  const { data, response } = await obtainToken({
    body: { username: s.username, password: s.password, scopes: [SCOPE] },
  });
  expectEqual("status", response?.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, ObtainedToken>>();
  expectEqual("the key's form", /^[0-9a-f]{40}$/.test(body.token), true);
  scoped.set(body.token);
});

await steps.step("GET /api/me with `Token <key>`: typed Me with the username", async () => {
  const { data, request, response } = await getMe({ auth: key(scoped.get()) });
  expectEqual("Authorization sent", request?.headers.get("Authorization"), `Token ${scoped.get()}`);
  expectEqual("status", response?.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, Me>>();
  expectEqual("username", body.username, s.username);
});

await steps.step("GET /api/bearer/me with `Bearer <key>`: typed Me with the username", async () => {
  const { data, request, response } = await getBearerMe({ auth: key(scoped.get()) });
  expectEqual("Authorization sent", request?.headers.get("Authorization"), `Bearer ${scoped.get()}`);
  expectEqual("status", response?.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, Me>>();
  expectEqual("username", body.username, s.username);
});

await steps.step(`GET /api/orders with the ${SCOPE} key: typed 200 list`, async () => {
  const { data, response } = await getOrders({ auth: key(scoped.get()) });
  expectEqual("status", response?.status, 200);
  const body = present("the body", data);
  expectType<Equal<typeof body, string[]>>();
  expectEqual("is a list", Array.isArray(body), true);
});

await steps.step("GET /api/orders with a key without the scope: typed 403", async () => {
  const login = await obtainToken({ body: { username: s.username, password: s.password } });
  expectEqual("the second login's status", login.response?.status, 200);
  unscoped.set(present("the second login's body", login.data).token);
  const { error, response } = await getOrders({ auth: key(unscoped.get()) });
  expectEqual("status", response?.status, 403);
  const body = present("the error body", error);
  expectType<Equal<typeof body, ErrorDetail>>();
  expectEqual("body", body, { detail: NO_PERMISSION });
});

await steps.step("GET /api/me without credentials: typed 401 (not provided)", async () => {
  const { error, response } = await getMe();
  expectEqual("status", response?.status, 401);
  const body = present("the error body", error);
  expectType<Equal<typeof body, ErrorDetail>>();
  expectEqual("body", body, { detail: NOT_PROVIDED });
});

await steps.step("POST /api/auth/logout with the scoped key: 204", async () => {
  const { error, response } = await logout({ auth: key(scoped.get()) });
  expectEqual("status", response?.status, 204);
  expectEqual("error", error, undefined);
});

await steps.step("GET /api/me with the logged-out key: typed 401 (invalid token)", async () => {
  const { error, response } = await getMe({ auth: key(scoped.get()) });
  expectEqual("status", response?.status, 401);
  const body = present("the error body", error);
  expectType<Equal<typeof body, ErrorDetail>>();
  expectEqual("body", body, { detail: INVALID_TOKEN });
});

await steps.step("POST /api/auth/logout-all with the unscoped key: 204, then the key gets a typed 401", async () => {
  const done = await logoutAll({ auth: key(unscoped.get()) });
  expectEqual("status", done.response?.status, 204);
  const { error, response } = await getMe({ auth: key(unscoped.get()) });
  expectEqual("status after logout-all", response?.status, 401);
  const body = present("the error body", error);
  expectType<Equal<typeof body, ErrorDetail>>();
  expectEqual("body", body, { detail: INVALID_TOKEN });
});

steps.finish();
