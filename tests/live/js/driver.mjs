// Drives a running gotrue-web server with @supabase/auth-js and prints one JSON object:
// step name -> what the client returned (selected data fields, or the error it built).
//
// Usage: node driver.mjs <base url> <service role key>
// The pytest side (tests/live/test_auth_js_client.py) asserts on the output.

import { AuthClient, GoTrueAdminApi } from '@supabase/auth-js'

const [baseUrl, serviceRoleKey] = process.argv.slice(2)
if (!baseUrl || !serviceRoleKey) {
  console.error('usage: node driver.mjs <base url> <service role key>')
  process.exit(2)
}

const PASSWORD = 'password-123'
const unique = () => Math.random().toString(36).slice(2, 12)
const newEmail = () => `js-${unique()}@example.com`

function describeError(error) {
  if (!error) return null
  return {
    name: error.name,
    status: error.status ?? null,
    code: error.code ?? null,
    message: error.message,
    reasons: error.reasons ?? null,
  }
}

function describeUser(user) {
  if (!user) return null
  return {
    id: user.id,
    email: user.email,
    aud: user.aud,
    role: user.role,
    email_confirmed_at: user.email_confirmed_at ?? null,
    banned_until: user.banned_until ?? null,
    user_metadata: user.user_metadata,
    app_metadata: user.app_metadata,
    identities: user.identities === null || user.identities === undefined
      ? null : user.identities.map((identity) => identity.provider),
  }
}

function describeSession(session) {
  if (!session) return null
  return {
    access_token: session.access_token,
    refresh_token: session.refresh_token,
    token_type: session.token_type,
    expires_in: session.expires_in,
    expires_at: session.expires_at,
    user_id: session.user?.id ?? null,
  }
}

function describeAuth({ data, error }) {
  return {
    error: describeError(error),
    user: describeUser(data?.user),
    session: describeSession(data?.session),
    weak_password: data?.weakPassword ?? null,
  }
}

function newClient(headers = {}) {
  return new AuthClient({
    url: baseUrl,
    headers: { apikey: 'anon-key', ...headers },
    autoRefreshToken: false,
    persistSession: false,
    detectSessionInUrl: false,
  })
}

const adminHeaders = { apikey: serviceRoleKey, Authorization: `Bearer ${serviceRoleKey}` }
const results = {}

// --- a user signs up, signs in and manages their account ---------------------------------------
const email = newEmail()
const client = newClient()
results.sign_up = describeAuth(await client.signUp({
  email, password: PASSWORD, options: { data: { full_name: 'Ada Lovelace', plan: 'free' } },
}))
results.sign_up_weak = describeAuth(await newClient().signUp({ email: newEmail(), password: 'abc' }))
results.sign_up_again = describeAuth(await newClient().signUp({ email, password: PASSWORD }))
results.sign_in_wrong_password = describeAuth(
  await newClient().signInWithPassword({ email, password: 'not-the-password' }))
results.sign_in = describeAuth(await client.signInWithPassword({ email, password: PASSWORD }))
results.get_user = describeAuth(await client.getUser())
results.update_data = describeAuth(
  await client.updateUser({ data: { plan: 'pro', full_name: null } }))
results.update_weak_password = describeAuth(await client.updateUser({ password: 'abc' }))
results.update_password = describeAuth(await client.updateUser({ password: 'new-password-456' }))
results.sign_in_old_password = describeAuth(
  await newClient().signInWithPassword({ email, password: PASSWORD }))
results.sign_in_new_password = describeAuth(
  await newClient().signInWithPassword({ email, password: 'new-password-456' }))

// --- refresh-token rotation ---------------------------------------------------------------------
const before = (await client.getSession()).data.session
results.refresh = describeAuth(await client.refreshSession())
results.refresh_parent_again = describeAuth(
  await newClient().refreshSession({ refresh_token: before.refresh_token }))
results.refresh_next = describeAuth(await client.refreshSession())
results.refresh_reuse = describeAuth(
  await newClient().refreshSession({ refresh_token: before.refresh_token }))
results.refresh_newest_after_reuse = describeAuth(
  await newClient().refreshSession({ refresh_token: results.refresh_next.session?.refresh_token }))
results.refresh_unknown = describeAuth(
  await newClient().refreshSession({ refresh_token: 'abcdefghijkl' }))

// --- sign out -----------------------------------------------------------------------------------
const leaving = newClient()
const leavingSession = (await leaving.signInWithPassword({
  email, password: 'new-password-456',
})).data.session
results.sign_out_session = describeSession(leavingSession)
results.sign_out = { error: describeError((await leaving.signOut({ scope: 'local' })).error) }
results.session_after_sign_out = describeSession((await leaving.getSession()).data.session)
results.refresh_after_sign_out = describeAuth(
  await newClient().refreshSession({ refresh_token: leavingSession.refresh_token }))
results.get_user_after_sign_out = describeAuth(
  await newClient().getUser(leavingSession.access_token))

// --- the admin API ------------------------------------------------------------------------------
const admin = new GoTrueAdminApi({ url: baseUrl, headers: adminHeaders })
const adminEmails = [newEmail(), newEmail(), newEmail()]
results.admin_create = []
for (const [index, adminEmail] of adminEmails.entries()) {
  results.admin_create.push(describeAuth(await admin.createUser({
    email: adminEmail, password: PASSWORD, email_confirm: true,
    user_metadata: { n: index }, app_metadata: { tier: 'gold' },
  })))
}
results.admin_create_duplicate = describeAuth(
  await admin.createUser({ email: adminEmails[0], password: PASSWORD }))

function describeList({ data, error }) {
  return {
    error: describeError(error),
    ids: (data?.users ?? []).map((user) => user.id),
    identities: (data?.users ?? []).map((user) => user.identities ?? null),
    aud: data?.aud ?? null,
    total: data?.total ?? null,
    next_page: data?.nextPage ?? null,
    last_page: data?.lastPage ?? null,
  }
}
results.admin_list_page_1 = describeList(await admin.listUsers({ page: 1, perPage: 2 }))
results.admin_list_page_2 = describeList(await admin.listUsers({ page: 2, perPage: 2 }))
results.admin_list_all = describeList(await admin.listUsers())

const targetId = results.admin_create[0].user?.id
results.admin_get = describeAuth(await admin.getUserById(targetId))
const bannedClient = newClient()
const bannedSession = (await bannedClient.signInWithPassword({
  email: adminEmails[0], password: PASSWORD,
})).data.session
results.admin_ban = describeAuth(await admin.updateUserById(targetId, { ban_duration: '24h' }))
results.sign_in_banned = describeAuth(
  await newClient().signInWithPassword({ email: adminEmails[0], password: PASSWORD }))
results.refresh_banned = describeAuth(
  await newClient().refreshSession({ refresh_token: bannedSession.refresh_token }))
results.admin_unban = describeAuth(await admin.updateUserById(targetId, { ban_duration: 'none' }))
results.sign_in_unbanned = describeAuth(
  await newClient().signInWithPassword({ email: adminEmails[0], password: PASSWORD }))
results.admin_delete = describeAuth(await admin.deleteUser(targetId))
results.admin_get_deleted = describeAuth(await admin.getUserById(targetId))

const notAdmin = new GoTrueAdminApi({
  url: baseUrl, headers: { Authorization: `Bearer ${results.sign_in_new_password.session?.access_token}` },
})
results.admin_list_as_user = describeList(await notAdmin.listUsers())
results.admin_ids = results.admin_create.map((created) => created.user?.id ?? null)
results.email = email

process.stdout.write(JSON.stringify(results) + '\n')
