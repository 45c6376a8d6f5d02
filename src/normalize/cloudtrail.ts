// AWS CloudTrail record -> OCSF API Activity 6003 / Authentication 3002 / Account Change 3001 /
// Group Management 3006 (IAM group membership and group policies).
// Class, field, activity and severity tables: docs/mapping-cloudtrail.md.
// Every input field that is not mapped stays in `unmapped` under its original path.
import { type Json, type JsonObject, isObject, str, isoToMs, setOwn, lookup } from "./json";
import { type NormalizeContext, type OcsfEvent, type Metadata, Observables, OBS, withCaptions } from "./ocsf";
import { NormalizeError } from "./errors";
import { scopedUid, stableUid } from "./uid";

type Obj = Record<string, unknown>;

export const API_ACTIVITY = 6003;
export const AUTHENTICATION = 3002;
export const ACCOUNT_CHANGE = 3001;
export const GROUP_MANAGEMENT = 3006;

const API_CAPTIONS: Record<number, string> = { 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other" };
const AUTH_CAPTIONS: Record<number, string> = { 1: "Logon", 2: "Logoff", 99: "Other" };
const ACCOUNT_CAPTIONS: Record<number, string> = {
  1: "Create",
  2: "Enable",
  3: "Password Change",
  4: "Password Reset",
  5: "Disable",
  6: "Delete",
  7: "Attach Policy",
  8: "Detach Policy",
  9: "Lock",
  10: "MFA Factor Enable",
  11: "MFA Factor Disable",
  99: "Other",
};
const GROUP_CAPTIONS: Record<number, string> = {
  1: "Assign Privileges",
  2: "Revoke Privileges",
  3: "Add User",
  4: "Remove User",
  5: "Delete",
  6: "Create",
};
const CLASS_NAMES: Record<number, string> = {
  [API_ACTIVITY]: "API Activity",
  [AUTHENTICATION]: "Authentication",
  [ACCOUNT_CHANGE]: "Account Change",
  [GROUP_MANAGEMENT]: "Group Management",
};
const CLASS_CAPTIONS: Record<number, Record<number, string>> = {
  [API_ACTIVITY]: API_CAPTIONS,
  [AUTHENTICATION]: AUTH_CAPTIONS,
  [ACCOUNT_CHANGE]: ACCOUNT_CAPTIONS,
  [GROUP_MANAGEMENT]: GROUP_CAPTIONS,
};

function verbs(activity: number, list: string): [string, number][] {
  return list.split(" ").map((v) => [v, activity]);
}

/** API Activity: first camel-case word of eventName -> activity_id (any other verb: 99 Other). */
export const API_VERBS: ReadonlyMap<string, number> = new Map([
  ...verbs(1, "Create Run Generate Issue Import"),
  ...verbs(2, "Get List Describe Search Lookup Head"),
  ...verbs(
    3,
    "Update Put Modify Add Remove Start Stop Attach Detach Associate Disassociate Tag Untag Enable Disable " +
      "Register Deregister Set Reset Authorize Revoke Rotate Share",
  ),
  ...verbs(4, "Delete Terminate"),
]);

/** Authentication 3002: eventName -> activity_id (1 Logon; 99 Other for the sign-in steps). */
export const AUTHENTICATION_EVENTS: ReadonlyMap<string, number> = new Map([
  ...verbs(
    1,
    "ConsoleLogin ExternalIdPDirectoryLogin UserAuthentication AssumeRole AssumeRoleWithSAML AssumeRoleWithWebIdentity " +
      "AssumeRoot GetFederationToken GetSessionToken",
  ),
  ...verbs(99, "CheckMfa CredentialChallenge CredentialVerification"),
]);

/**
 * Account Change 3001: eventName -> activity_id, for records whose eventSource is in ACCOUNT_SOURCES
 * (the same names in other services, e.g. resource-groups DeleteGroup, stay API Activity).
 * UpdateAccessKey/UpdateSSHPublicKey/UpdateSigningCertificate/UpdateServiceSpecificCredential are
 * 2 Enable or 5 Disable by requestParameters.status (see STATUS_SWITCH).
 */
export const ACCOUNT_CHANGE_EVENTS: ReadonlyMap<string, number> = new Map([
  ...verbs(
    1,
    "CreateUser CreateRole CreateServiceLinkedRole CreateGroup CreateAccessKey CreateInstanceProfile " +
      "CreateVirtualMFADevice CreateServiceSpecificCredential UploadSSHPublicKey UploadSigningCertificate",
  ),
  ...verbs(3, "ChangePassword PasswordUpdated"),
  // CreateLoginProfile gives a user console sign-in (2 Enable), as DeleteLoginProfile takes it away (5 Disable);
  // UpdateLoginProfile is an administrator setting a new password (4 Password Reset)
  ...verbs(2, "CreateLoginProfile"),
  ...verbs(4, "UpdateLoginProfile ResetServiceSpecificCredential"),
  ...verbs(5, "DeleteLoginProfile"),
  ...verbs(
    6,
    "DeleteUser DeleteRole DeleteServiceLinkedRole DeleteGroup DeleteAccessKey DeleteInstanceProfile " +
      "DeleteSSHPublicKey DeleteSigningCertificate DeleteServiceSpecificCredential",
  ),
  // the *Group* names below are Group Management 3006 (GROUP_EVENTS) when the record names the group and the
  // user or policy; these entries are for a record that does not (3006 needs group and user or privileges)
  ...verbs(
    7,
    "AttachUserPolicy AttachRolePolicy AttachGroupPolicy PutUserPolicy PutRolePolicy PutGroupPolicy " +
      "PutUserPermissionsBoundary PutRolePermissionsBoundary",
  ),
  ...verbs(
    8,
    "DetachUserPolicy DetachRolePolicy DetachGroupPolicy DeleteUserPolicy DeleteRolePolicy DeleteGroupPolicy " +
      "DeleteUserPermissionsBoundary DeleteRolePermissionsBoundary",
  ),
  ...verbs(10, "EnableMFADevice"),
  ...verbs(11, "DeactivateMFADevice DeleteVirtualMFADevice"),
  // group membership is no policy attachment (7/8 name an IAM policy attached to the user/role itself):
  // AddUserToGroup / RemoveUserFromGroup without a group or user name are 99 Other, activity_name the eventName
  ...verbs(
    99,
    "AddUserToGroup RemoveUserFromGroup UpdateUser UpdateRole UpdateRoleDescription UpdateAssumeRolePolicy UpdateGroup TagUser UntagUser TagRole " +
      "UntagRole TagInstanceProfile UntagInstanceProfile AddRoleToInstanceProfile RemoveRoleFromInstanceProfile " +
      "ResyncMFADevice UpdateAccountPasswordPolicy DeleteAccountPasswordPolicy CreateAccountAlias DeleteAccountAlias " +
      "EmailUpdated AccountNameUpdated UpdateAccountName UpdateAccountEmailAddress",
  ),
  ...verbs(-1, "UpdateAccessKey UpdateSSHPublicKey UpdateSigningCertificate UpdateServiceSpecificCredential"),
]);
/** eventSource values whose eventNames are looked up in ACCOUNT_CHANGE_EVENTS. */
export const ACCOUNT_SOURCES: ReadonlySet<string> = new Set([
  "iam.amazonaws.com",
  "signin.amazonaws.com",
  "account.amazonaws.com",
  "identitystore.amazonaws.com",
]);
/**
 * Group Management 3006: IAM eventName -> activity_id (1 Assign Privileges, 2 Revoke Privileges, 3 Add User,
 * 4 Remove User), for eventSource iam.amazonaws.com only. CreateGroup / DeleteGroup are not here: a 3006 Create
 * or Delete would carry neither `user` nor `privileges`, which the class requires one of (at_least_one); they
 * stay Account Change 1 / 6. See groupChange for what a record needs to be one of these.
 */
export const GROUP_EVENTS: ReadonlyMap<string, number> = new Map([
  ...verbs(1, "AttachGroupPolicy PutGroupPolicy"),
  ...verbs(2, "DetachGroupPolicy DeleteGroupPolicy"),
  ...verbs(3, "AddUserToGroup"),
  ...verbs(4, "RemoveUserFromGroup"),
]);
const IAM_SOURCE = "iam.amazonaws.com";

/** requestParameters.status of the credential Update* calls (-1 in the table) -> activity. */
const STATUS_SWITCH: Record<string, number> = { Active: 2, Inactive: 5 };

/** Successful or not, these turn off or delete audit logging / threat detection, or share data out: Medium. */
export const SENSITIVE_EVENTS: ReadonlySet<string> = new Set(
  (
    "StopLogging DeleteTrail UpdateTrail PutEventSelectors DeleteEventDataStore StopEventDataStoreIngestion " +
    "DeleteFlowLogs DeleteDetector DisassociateFromMasterAccount DisassociateFromAdministratorAccount " +
    "DisableSecurityHub StopConfigurationRecorder DeleteConfigurationRecorder DeleteDeliveryChannel " +
    "DeleteResolverQueryLogConfig DisassociateResolverQueryLogConfig DeleteLogGroup DeleteLogStream " +
    "DisableEbsEncryptionByDefault ScheduleKeyDeletion DisableKey " +
    "ModifySnapshotAttribute ModifyImageAttribute ModifyDBSnapshotAttribute ModifyDBClusterSnapshotAttribute"
  ).split(" "),
);

/** errorCode values that mean "not allowed" (severity Medium). */
export const ACCESS_DENIED_CODES: ReadonlySet<string> = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "Client.UnauthorizedOperation",
  "UnauthorizedOperation",
  "UnauthorizedAccess",
  "Unauthorized",
  "UnauthorizedException",
  "Client.AuthFailure",
  "AuthFailure",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "NotAuthorized",
  "Forbidden",
]);

/** userIdentity.type -> user.type_id and its 1.3.0 caption; other types are 99 Other with the AWS name. */
const USER_TYPES: Record<string, readonly [number, string]> = {
  IAMUser: [1, "User"],
  IdentityCenterUser: [1, "User"],
  Root: [2, "Admin"],
  AWSService: [3, "System"],
  Unknown: [0, "Unknown"],
};
const AWS_ACCOUNT = { type_id: 10, type: "AWS Account" } as const;
/** Authentication protocol of the federated STS calls. */
const AUTH_PROTOCOLS: Record<string, Obj> = {
  AssumeRoleWithSAML: { auth_protocol_id: 5, auth_protocol: "SAML" },
  AssumeRoleWithWebIdentity: { auth_protocol_id: 4, auth_protocol: "OpenID" },
};

/** OCSF severity_id values used below. */
const INFO = 1;
const LOW = 2;
const MEDIUM = 3;
const HIGH = 4;

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PADDED_IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
/** OCSF 1.3.0 hostname_t. */
const HOSTNAME = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;

function isIPv6(s: string): boolean {
  const dbl = s.indexOf("::");
  if (dbl !== s.lastIndexOf("::")) return false;
  const parts = dbl >= 0 ? [s.slice(0, dbl), s.slice(dbl + 2)] : [s];
  let groups = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (part === "") continue;
    const segs = part.split(":");
    for (let i = 0; i < segs.length; i++) {
      const g = segs[i]!;
      if (p === parts.length - 1 && i === segs.length - 1 && g.includes(".")) {
        if (!IPV4.test(g)) return false;
        groups += 2;
      } else if (HEX_GROUP.test(g)) groups++;
      else return false;
    }
  }
  return dbl >= 0 ? groups <= 7 : groups === 8;
}

/** A valid OCSF ip_t (at most 40 characters), else undefined. Zero-padded IPv4 octets are read as decimal. */
export function canonicalIp(s: string): string | undefined {
  if (s.length > 40) return undefined;
  if (IPV4.test(s)) return s;
  if (s.includes(":")) return isIPv6(s) ? s : undefined;
  if (!PADDED_IPV4.test(s)) return undefined;
  const octets = s.split(".").map(Number);
  return octets.every((o) => o <= 255) ? octets.join(".") : undefined;
}

/** activity_id of an API Activity from the eventName's leading verb (a leading "Batch" is skipped). */
export function apiActivityId(eventName: string): number {
  let word = firstWord(eventName, 0);
  if (word === "Batch") word = firstWord(eventName, 5);
  return API_VERBS.get(word) ?? 99;
}

function firstWord(s: string, from: number): string {
  let i = from + 1;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
    i++;
  }
  return s.slice(from, i);
}

/** OCSF class and activity of a CloudTrail API record (Insight events are handled separately). */
export function classify(eventSource: string | undefined, eventName: string, requestParameters?: Json): { classUid: number; activityId: number } {
  const auth = AUTHENTICATION_EVENTS.get(eventName);
  if (auth !== undefined) return { classUid: AUTHENTICATION, activityId: auth };
  if (eventSource === IAM_SOURCE) {
    const group = GROUP_EVENTS.get(eventName);
    if (group !== undefined && groupChange(group, requestParameters, undefined) !== undefined) return { classUid: GROUP_MANAGEMENT, activityId: group };
  }
  if (eventSource !== undefined && ACCOUNT_SOURCES.has(eventSource)) {
    const acct = ACCOUNT_CHANGE_EVENTS.get(eventName);
    if (acct === -1) return { classUid: ACCOUNT_CHANGE, activityId: lookup(STATUS_SWITCH, str(get1(requestParameters, "status")) ?? "") ?? 99 };
    if (acct !== undefined) return { classUid: ACCOUNT_CHANGE, activityId: acct };
  }
  return { classUid: API_ACTIVITY, activityId: apiActivityId(eventName) };
}

function get1(o: Json | undefined, k: string): Json | undefined {
  return isObject(o) ? o[k] : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function nonEmpty(v: Json | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * What CloudTrail writes instead of a name it will not log: the user name typed into a failed console sign-in
 * that names no IAM user ("AWS masks the userName text with HIDDEN_DUE_TO_SECURITY_REASONS", CloudTrail User
 * Guide, console sign-in events), Identity Store / Cognito user attributes. It names nobody.
 */
export const MASKED_NAME = "HIDDEN_DUE_TO_SECURITY_REASONS";

/** A user or session name: a non-empty string that is not CloudTrail's mask. */
function nameOf(v: Json | undefined): string | undefined {
  const s = nonEmpty(v);
  return s === MASKED_NAME ? undefined : s;
}

function isEmpty(v: Json): boolean {
  if (Array.isArray(v)) return v.length === 0;
  if (!isObject(v)) return false;
  for (const _ in v) return false;
  return true;
}

/**
 * Reads a (part of the) record and remembers which keys were mapped; build() returns the rest, which is
 * `unmapped`. Nested objects are tracked on demand: one emptied by mapping is dropped, one empty in the input
 * is kept (an empty `sessionIssuer: {}` is information too). Nothing is deleted or copied until build().
 */
class Rest {
  private used?: Set<string>;
  private children?: Map<string, Rest>;
  private replaced?: Map<string, Json>;
  constructor(readonly src: JsonObject) {}
  /** A non-empty string value, marked mapped. Nulls, empty strings and other types stay. */
  s(k: string): string | undefined {
    const v = this.src[k];
    if (typeof v !== "string" || v === "") return undefined;
    (this.used ??= new Set()).add(k);
    return v;
  }
  /** A non-empty object value, marked mapped (null, {}, arrays and scalars stay under their key). */
  take(k: string): JsonObject | undefined {
    const v = this.src[k];
    if (!isObject(v) || isEmpty(v)) return undefined;
    (this.used ??= new Set()).add(k);
    return v;
  }
  /** A non-empty string value, not marked (drop() marks it once it is used). */
  peek(k: string): string | undefined {
    return nonEmpty(this.src[k]);
  }
  drop(k: string): void {
    (this.used ??= new Set()).add(k);
  }
  /** Keeps `v` in the rest instead of the input's value. */
  replace(k: string, v: Json): void {
    (this.replaced ??= new Map()).set(k, v);
  }
  /** A nested non-empty object as its own Rest, or undefined. */
  obj(k: string): Rest | undefined {
    const v = this.src[k];
    if (!isObject(v) || isEmpty(v)) return undefined;
    let c = this.children?.get(k);
    if (!c) {
      c = new Rest(v);
      (this.children ??= new Map()).set(k, c);
    }
    return c;
  }
  /** What was not mapped, or undefined when everything was. */
  build(): JsonObject | undefined {
    if (!this.used && !this.children && !this.replaced) return isEmpty(this.src) ? undefined : this.src;
    let out: JsonObject | undefined;
    for (const k in this.src) {
      if (this.used?.has(k)) continue;
      const child = this.children?.get(k);
      const v = child ? child.build() : (this.replaced?.get(k) ?? this.src[k]);
      if (v !== undefined) setOwn((out ??= {}), k, v);
    }
    return out;
  }
}

/** A new object with the keys whose value is not undefined (no `delete`: objects stay fast). */
function defined<T extends object>(o: T): T {
  const out: Partial<T> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out as T;
}

function lastSegment(arn: string): string {
  const i = arn.lastIndexOf("/");
  return i >= 0 ? arn.slice(i + 1) : arn;
}

/** The account id of an ARN ("arn:aws:iam::123456789012:user/Bob" -> "123456789012"), if any. */
export function arnAccount(arn: string): string | undefined {
  if (!arn.startsWith("arn:")) return undefined;
  let at = 0;
  for (let n = 0; n < 4; n++) {
    at = arn.indexOf(":", at) + 1;
    if (at === 0) return undefined;
  }
  const end = arn.indexOf(":", at);
  return end > at ? arn.slice(at, end) : undefined;
}

/**
 * cloud.account from an EventBridge envelope's `account` (the AWS account the event came from), for a record
 * that names none (no recipientAccountId). Only cloud.account: metadata.uid is not changed (the trail's copy
 * of the record keeps the same uid), nor the fallback user. The envelope itself stays whole in
 * unmapped.eventbridge (./index normalize).
 */
function envelopeAccount(envelope: JsonObject | undefined): Obj | undefined {
  const account = envelope === undefined ? undefined : nonEmpty(envelope.account);
  return account === undefined ? undefined : { uid: account, ...AWS_ACCOUNT };
}

/** Adds user.account from the user's ARN when it has none. */
function withArnAccount(u: Obj): Obj {
  if (u.account === undefined && typeof u.uid === "string") {
    const acct = arnAccount(u.uid);
    if (acct) u.account = { uid: acct, ...AWS_ACCOUNT };
  }
  return u;
}

function hasIdentity(u: Obj | undefined): u is Obj {
  return u !== undefined && (u.name !== undefined || u.uid !== undefined || u.account !== undefined);
}

/** userIdentity -> actor {user, session, app_name (invokedBy), idp}; takes what it maps out of `ui`. */
function mapActor(ui: Rest | undefined): { user?: Obj; session?: Obj; app_name?: string; idp?: Obj; root: boolean } {
  if (!ui) return { root: false };
  const awsType = ui.peek("type");
  const accountId = ui.peek("accountId");
  // a masked userName is no name: it stays in unmapped.userIdentity
  const name = nameOf(ui.peek("userName"));
  const arn = ui.peek("arn");
  // an IAM Identity Center user has no ARN: onBehalfOf.userId (its Identity Store user id) names it; the
  // identityStoreArn stays in unmapped (1.3.0 has no attribute for an identity store: user.domain is a
  // directory's domain name, user.org an organization)
  const obo = awsType === "IdentityCenterUser" && arn === undefined ? ui.obj("onBehalfOf") : undefined;
  const storeUser = obo?.peek("userId");
  let user: Obj | undefined;
  // a user needs a name, an ARN or an account (AWSService callers have none: the service is actor.app_name)
  if (name !== undefined || arn !== undefined || accountId !== undefined || storeUser !== undefined) {
    const typed = awsType !== undefined ? (lookup(USER_TYPES, awsType) ?? ([99, awsType] as const)) : undefined;
    user = defined({
      name: name !== undefined ? ui.s("userName") : undefined,
      uid: ui.s("arn") ?? obo?.s("userId"),
      uid_alt: ui.s("principalId"),
      credential_uid: ui.s("accessKeyId"),
      account: ui.s("accountId") ? { uid: accountId, ...AWS_ACCOUNT } : undefined,
      type_id: typed?.[0],
      type: typed?.[1],
    });
    // the AWS type stays in unmapped unless it is the caption itself (99 Other, Unknown)
    if (typed && typed[1] === awsType) ui.drop("type");
  }

  let session: Obj | undefined;
  let idp: Obj | undefined;
  const sc = ui.obj("sessionContext");
  if (sc) {
    const attrs = sc.obj("attributes");
    // creationDate also stays in unmapped: created_time (ms) does not keep its text
    const createdMs = isoToMs(attrs?.peek("creationDate"));
    const mfa = attrs?.peek("mfaAuthenticated");
    const isMfa = mfa === "true" ? true : mfa === "false" ? false : undefined;
    if (isMfa !== undefined) attrs!.drop("mfaAuthenticated");
    const issuer = sc.obj("sessionIssuer")?.s("arn");
    if (createdMs !== undefined || isMfa !== undefined || issuer !== undefined) {
      session = defined({ created_time: createdMs, is_mfa: isMfa, issuer });
    }
    const provider = sc.obj("webIdFederationData")?.s("federatedProvider");
    if (provider) idp = { name: provider };
  }
  if (!idp) {
    const identityProvider = ui.s("identityProvider");
    if (identityProvider) idp = { name: identityProvider };
  }
  // invokedBy (the AWS service that called on the user's behalf) -> actor.app_name: invoked_by is deprecated since 1.2.0
  return { user, session, app_name: ui.s("invokedBy"), idp, root: awsType === "Root" };
}

/** The subject of an Authentication: the session obtained when the response names it, else the caller. */
function authSubject(eventName: string, req: Json | undefined, resp: Json | undefined, actorUser: Obj | undefined, fallback: Obj): Obj {
  const assumed = get1(resp, "assumedRoleUser");
  const federated = get1(resp, "federatedUser");
  const credential = nonEmpty(get1(get1(resp, "credentials"), "accessKeyId"));
  if (isObject(assumed) || isObject(federated)) {
    const uid = nonEmpty(get1(assumed, "arn")) ?? nonEmpty(get1(federated, "arn"));
    const u = defined({
      name: nameOf(get1(req, "roleSessionName")) ?? nameOf(get1(req, "name")) ?? (uid ? lastSegment(uid) : undefined),
      uid,
      uid_alt: nonEmpty(get1(assumed, "assumedRoleId")) ?? nonEmpty(get1(federated, "federatedUserId")),
      credential_uid: credential,
      type_id: 99,
      type: isObject(assumed) ? "AssumedRole" : "FederatedUser",
    });
    if (hasIdentity(u)) return u;
  }
  const roleArn = nonEmpty(get1(req, "roleArn"));
  if (roleArn && eventName !== "AssumeRoot") {
    return defined({ name: nameOf(get1(req, "roleSessionName")) ?? lastSegment(roleArn), uid: roleArn, type_id: 99, type: "Role" });
  }
  if (actorUser) return credential ? { ...actorUser, credential_uid: credential } : { ...actorUser };
  return fallback;
}

/** The user/role/group an Account Change acts on, from the response or the request; else the caller. */
function accountTarget(req: Json | undefined, resp: Json | undefined, actorUser: Obj | undefined, fallback: Obj): Obj {
  const ru = get1(resp, "user");
  const rr = get1(resp, "role");
  const rk = get1(resp, "accessKey");
  const userName = nameOf(get1(req, "userName")) ?? nameOf(get1(ru, "userName")) ?? nameOf(get1(rk, "userName"));
  const roleName = nameOf(get1(req, "roleName")) ?? nameOf(get1(rr, "roleName"));
  const groupName = nonEmpty(get1(req, "groupName"));
  const credential = nonEmpty(get1(req, "accessKeyId")) ?? nonEmpty(get1(rk, "accessKeyId"));
  const groups = groupName ? [{ name: groupName }] : undefined;
  // a masked requestParameters.userName (Identity Store) still names a user, not the caller: unnamed, in the account
  const masked = get1(req, "userName") === MASKED_NAME;
  if (userName || isObject(ru) || masked) {
    const u: Obj = defined({
      name: userName,
      uid: nonEmpty(get1(ru, "arn")),
      uid_alt: nonEmpty(get1(ru, "userId")),
      credential_uid: credential,
      groups,
      type_id: 1,
      type: "User",
    });
    return hasIdentity(u) ? u : Object.assign({ ...fallback }, u);
  }
  if (roleName || isObject(rr)) {
    return defined({ name: roleName, uid: nonEmpty(get1(rr, "arn")), uid_alt: nonEmpty(get1(rr, "roleId")), type_id: 99, type: "Role" });
  }
  const base = actorUser ? { ...actorUser } : { ...fallback };
  if (credential) base.credential_uid = credential;
  if (groups) base.groups = groups;
  return base;
}

function policyOf(req: Json | undefined): Obj | undefined {
  const arn = nonEmpty(get1(req, "policyArn")) ?? nonEmpty(get1(req, "permissionsBoundary"));
  const name = nonEmpty(get1(req, "policyName"));
  if (!arn && !name) return undefined;
  return defined({ uid: arn, name: name ?? (arn ? lastSegment(arn) : undefined) });
}

/**
 * The parts of a Group Management event: `group` (required; requestParameters.groupName, uid the group ARN
 * when responseElements.group has one: IAM logs only the name for these calls, and an ARN is not built from it
 * because the group's path is unknown) and, for the activity, `user` (3 Add / 4 Remove User:
 * requestParameters.userName) or `privileges` (1 Assign / 2 Revoke: requestParameters.policyArn, else the inline
 * policy's policyName). Undefined when the record lacks either: it would not be a valid 3006.
 */
function groupChange(activityId: number, req: Json | undefined, resp: Json | undefined): { group: Obj; user?: Obj; privileges?: string[] } | undefined {
  const name = nonEmpty(get1(req, "groupName"));
  if (name === undefined) return undefined;
  const arn = nonEmpty(get1(get1(resp, "group"), "arn"));
  const group: Obj = arn !== undefined ? { name, uid: arn } : { name };
  if (activityId === 3 || activityId === 4) {
    const userName = nameOf(get1(req, "userName"));
    return userName !== undefined ? { group, user: { name: userName, type_id: 1, type: "User" } } : undefined;
  }
  const privilege = nonEmpty(get1(req, "policyArn")) ?? nonEmpty(get1(req, "policyName"));
  return privilege !== undefined ? { group, privileges: [privilege] } : undefined;
}

/** EC2 instance id: i- and 8 or 17 hex digits. */
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/**
 * The EC2 instance that made the call, when the caller used its instance profile credentials: EC2 names
 * those role sessions after the instance (`arn:aws:sts::<account>:assumed-role/<role>/i-0abc...`) and
 * CloudTrail marks credentials delivered by the instance metadata service with
 * `sessionContext.ec2RoleDelivery` ("1.0" IMDSv1, "2.0" IMDSv2). Both are required: any AssumeRole caller
 * can choose a session name that looks like an instance id. Reads only (the values keep their places).
 */
function callerInstanceId(ui: Json | undefined): string | undefined {
  if (!isObject(ui) || ui.type !== "AssumedRole" || typeof ui.arn !== "string") return undefined;
  const sc = ui.sessionContext;
  if (!isObject(sc) || typeof sc.ec2RoleDelivery !== "string" || sc.ec2RoleDelivery === "") return undefined;
  const m = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/[^/]+\/([^/]+)$/.exec(ui.arn);
  return m && INSTANCE_ID.test(m[1]!) ? m[1] : undefined;
}

/** sourceIPAddress -> src_endpoint: an IP, else an AWS service name ("cloudtrail.amazonaws.com", "AWS Internal"). */
function sourceEndpoint(src: string): { ep: Obj; exact: boolean } {
  const ip = canonicalIp(src);
  if (ip !== undefined) return { ep: { ip }, exact: ip === src };
  if (src.includes(".") && HOSTNAME.test(src)) return { ep: { svc_name: src, domain: src }, exact: true };
  return { ep: { svc_name: src }, exact: true };
}

function severityOf(classUid: number, activityId: number, opts: { failed: boolean; denied: boolean; sensitive: boolean; root: boolean; service: boolean; insight: boolean }): number {
  let s: number;
  if (opts.insight) s = MEDIUM;
  else if (opts.service) s = INFO;
  else if (classUid === ACCOUNT_CHANGE || classUid === GROUP_MANAGEMENT) s = MEDIUM;
  else if (classUid === AUTHENTICATION) s = opts.failed ? MEDIUM : INFO;
  else s = activityId === 2 ? INFO : LOW;
  if (opts.failed && s < LOW) s = LOW;
  if ((opts.denied || opts.sensitive) && s < MEDIUM) s = MEDIUM;
  if (opts.root) s = HIGH;
  return s;
}

function insightMessage(details: Json | undefined, operation: string, eventSource: string | undefined): string {
  const parts = ["CloudTrail Insight"];
  const type = str(get1(details, "insightType"));
  const state = str(get1(details, "state"));
  if (type) parts.push(type);
  if (state) parts.push(state);
  return `${parts.join(" ")}: ${operation}${eventSource ? ` (${eventSource})` : ""}`;
}

/**
 * metadata.uid of a record with an eventID: a UUID-shaped hash of eventID, recipientAccountId, eventTime and
 * eventName. Deterministic (the same record from a trail's S3 log file and from EventBridge gets the same uid,
 * so SIEMs can drop the copy), and two records that merely share an eventID (AWS documentation examples use
 * placeholders; a sender can copy a real one) still get different uids, so one can never suppress the other.
 */
export function cloudTrailUid(eventId: string, account: string | undefined, time: string | undefined, name: string | undefined): string {
  return stableUid(`cloudtrail\n${eventId}\n${account ?? ""}\n${time ?? ""}\n${name ?? ""}`);
}

/** An observable for a string value (anything else is skipped). A module function: the bundler's keepNames names every closure it makes. */
function addString(observables: Observables, name: string, type_id: number, value: unknown): void {
  if (typeof value === "string") observables.add(name, type_id, value);
}

export function normalizeCloudTrail(rec: JsonObject, ctx: NormalizeContext): OcsfEvent {
  if (typeof rec.eventName !== "string" && typeof rec.eventSource !== "string" && typeof rec.eventType !== "string") {
    throw new NormalizeError("not a CloudTrail record: it has no eventName, eventSource or eventType string");
  }
  const rest = new Rest(rec);
  const insight = rec.eventType === "AwsCloudTrailInsight";
  const serviceEvent = rec.eventType === "AwsServiceEvent";

  // --- what was called ---
  const details = insight ? rest.obj("insightDetails") : undefined;
  const eventSource = rest.s("eventSource") ?? details?.s("eventSource");
  const eventName = rest.s("eventName") ?? details?.s("eventName");
  const operation = eventName ?? nonEmpty(rec.eventType) ?? "Unknown";
  const req = rec.requestParameters;
  const resp = rec.responseElements;
  const { classUid, activityId } = insight
    ? { classUid: API_ACTIVITY, activityId: 99 }
    : classify(eventSource, operation, req);

  // --- status ---
  const errorCode = rest.s("errorCode");
  const errorMessage = rest.s("errorMessage");
  // sign-in events answer {"<eventName>": "Success" | "Failure"}
  const outcome = eventName !== undefined ? str(get1(resp, eventName)) : undefined;
  const failed = errorCode !== undefined || outcome === "Failure" || (outcome === undefined && errorMessage !== undefined);
  const statusId = insight ? undefined : failed ? 2 : 1;

  // --- who ---
  const actorParts = mapActor(rest.obj("userIdentity"));
  const recipient = rest.s("recipientAccountId");
  const region = rest.s("awsRegion");
  const cloudAccount = recipient ? { uid: recipient, ...AWS_ACCOUNT } : undefined;
  const actor: Obj = defined({
    user: actorParts.user,
    session: actorParts.session,
    app_name: actorParts.app_name,
    idp: actorParts.idp,
  });
  if (!actor.user && !actor.session && !actor.app_name) {
    actor.app_name = insight ? "CloudTrail Insights" : (eventSource ?? "AWS CloudTrail");
  }

  // --- from where / to where ---
  const srcIp = rest.peek("sourceIPAddress");
  let src_endpoint: Obj;
  if (srcIp !== undefined) {
    const { ep, exact } = sourceEndpoint(srcIp);
    src_endpoint = ep;
    if (exact) rest.drop("sourceIPAddress");
  } else {
    // Insight events carry no caller: CloudTrail itself reports them
    src_endpoint = { svc_name: insight ? "cloudtrail.amazonaws.com" : (eventSource ?? "unknown") };
  }
  const vpce = rest.s("vpcEndpointId");
  if (vpce) src_endpoint.uid = vpce;
  const instanceUid = callerInstanceId(rec.userIdentity);
  if (instanceUid) src_endpoint.instance_uid = instanceUid;
  const tls = rest.obj("tlsDetails");
  const hostHeader = tls?.peek("clientProvidedHostHeader");
  let dst_endpoint: Obj | undefined;
  // Account Change and Group Management have no dst_endpoint: the host header then stays in unmapped
  if (hostHeader !== undefined && (classUid === API_ACTIVITY || classUid === AUTHENTICATION) && HOSTNAME.test(hostHeader)) {
    tls!.drop("clientProvidedHostHeader");
    dst_endpoint = { hostname: hostHeader };
  }
  const userAgent = rest.s("userAgent");

  // --- the API call ---
  const requestId = rest.s("requestID");
  const request = requestId !== undefined ? defined({ uid: requestId, data: rest.take("requestParameters") }) : undefined;
  const response = defined({ data: rest.take("responseElements"), error: errorCode, error_message: errorMessage });
  const api = defined({
    operation,
    service: eventSource ? { name: eventSource } : undefined,
    version: rest.s("apiVersion"),
    request,
    response: Object.keys(response).length ? response : undefined,
  });

  // --- resources ---
  let resources: Obj[] | undefined;
  const rawResources = rec.resources;
  // only API Activity has resources; Authentication and Account Change keep them in unmapped
  if (Array.isArray(rawResources) && rawResources.length > 0 && classUid === API_ACTIVITY) {
    const kept: Json[] = [];
    resources = [];
    for (const r of rawResources) {
      const arn = isObject(r) ? (nonEmpty(r.ARN) ?? nonEmpty(r.ARNPrefix)) : undefined;
      if (!isObject(r) || arn === undefined) {
        kept.push(r);
        continue;
      }
      const rr = new Rest(r);
      rr.drop(r.ARN === arn ? "ARN" : "ARNPrefix");
      const acct = rr.s("accountId");
      resources.push(defined({ uid: arn, type: rr.s("type"), owner: acct ? { account: { uid: acct, ...AWS_ACCOUNT } } : undefined }));
      const left = rr.build();
      if (left) kept.push(left);
    }
    if (kept.length) rest.replace("resources", kept);
    else rest.drop("resources");
    if (!resources.length) resources = undefined;
  }

  // --- metadata ---
  const eventTime = rest.peek("eventTime");
  const timeMs = isoToMs(eventTime);
  if (timeMs !== undefined) rest.drop("eventTime");
  // eventID stays in unmapped: metadata.uid hashes it with the account, time and name (see cloudTrailUid)
  const eventId = rest.peek("eventID");
  const eventType = rest.s("eventType");
  const eventCategory = rest.s("eventCategory");
  const eventVersion = rest.s("eventVersion");
  const product: Metadata["product"] = { name: "CloudTrail", vendor_name: "AWS" };
  if (eventVersion) product.version = eventVersion;
  if (eventCategory) product.feature = { name: eventCategory };
  // without an eventID, metadata.uid hashes the record's text (as sent, else stringified once: raw_data reuses it)
  let recText = ctx.rawText;
  const uid = eventId !== undefined ? cloudTrailUid(eventId, recipient, eventTime, str(rec.eventName)) : stableUid((recText ??= JSON.stringify(rec)));
  const metadata: Metadata = { version: ctx.ocsfVersion, product, uid: scopedUid(uid, ctx.uidScope) };
  const sharedEventId = rest.s("sharedEventID");
  if (sharedEventId) metadata.correlation_uid = sharedEventId;
  if (eventType) metadata.event_code = eventType;
  metadata.log_name = "cloudtrail";
  metadata.log_provider = "CloudTrail";
  if (eventTime) metadata.original_time = eventTime;
  if (ctx.tenant !== undefined) metadata.tenant_uid = ctx.tenant;
  metadata.logged_time = ctx.receivedAt;
  metadata.profiles = ["cloud"];

  // --- class specifics ---
  const fallbackUser: Obj = cloudAccount ? { account: cloudAccount } : { name: "unknown" };
  let user: Obj | undefined;
  let auth: Obj | undefined;
  let policy: Obj | undefined;
  let group: Obj | undefined;
  let privileges: string[] | undefined;
  if (classUid === AUTHENTICATION) {
    user = withArnAccount(authSubject(operation, req, resp, actorParts.user, fallbackUser));
    const mfaUsed = rest.obj("additionalEventData")?.peek("MFAUsed");
    // MFAUsed ("Yes"/"No") also stays in unmapped: is_mfa does not keep its text
    auth = defined({
      service: { name: eventSource ?? "AWS" },
      is_mfa: mfaUsed === "Yes" ? true : mfaUsed === "No" ? false : undefined,
      is_remote: true,
      ...lookup(AUTH_PROTOCOLS, operation),
    });
  } else if (classUid === ACCOUNT_CHANGE) {
    user = withArnAccount(accountTarget(req, resp, actorParts.user, fallbackUser));
    policy = policyOf(req);
  } else if (classUid === GROUP_MANAGEMENT) {
    // classify() chose 3006 only when groupChange finds the group and the user or privilege
    const change = groupChange(activityId, req, resp)!;
    group = change.group;
    if (change.user) user = change.user;
    privileges = change.privileges;
  }

  const severity_id = severityOf(classUid, activityId, {
    failed,
    denied: errorCode !== undefined && ACCESS_DENIED_CODES.has(errorCode),
    sensitive: eventName !== undefined && SENSITIVE_EVENTS.has(eventName),
    root: actorParts.root,
    service: serviceEvent,
    insight,
  });
  const who = text(actorParts.user?.name) ?? text(actorParts.user?.uid) ?? text(actor.app_name);
  const message = insight
    ? insightMessage(rec.insightDetails, operation, eventSource)
    : `${operation}${eventSource ? ` (${eventSource})` : ""} by ${who ?? "unknown"}${failed ? `: ${errorCode ?? "Failure"}` : ""}`;

  // --- observables ---
  const observables = new Observables();
  addString(observables, "src_endpoint.ip", OBS.ip, src_endpoint.ip);
  addString(observables, "src_endpoint.domain", OBS.hostname, src_endpoint.domain);
  addString(observables, "actor.user.name", OBS.user_name, actorParts.user?.name);
  // user.uid (the ARN) is a plain string in 1.3.0, with no observable type: the User observable (21) names the object
  if (typeof actorParts.user?.uid === "string") observables.addObject("actor.user", OBS.user);
  addString(observables, "actor.user.credential_uid", OBS.user_credential_id, actorParts.user?.credential_uid);
  addString(observables, "http_request.user_agent", OBS.user_agent, userAgent);
  if (user) {
    // the target user's values, where they are not the actor's own
    const a: Obj = actorParts.user ?? {};
    if (user.name !== a.name) addString(observables, "user.name", OBS.user_name, user.name);
    if (typeof user.uid === "string" && user.uid !== a.uid) observables.addObject("user", OBS.user);
    if (user.credential_uid !== a.credential_uid) addString(observables, "user.credential_uid", OBS.user_credential_id, user.credential_uid);
  }
  if (resources) resources.forEach((r, i) => addString(observables, `resources[${i}].uid`, OBS.resource_uid, r.uid));

  // built key by key: no undefined values, no delete (objects stay in fast mode)
  const ev: OcsfEvent = {
    activity_id: activityId,
    category_uid: Math.floor(classUid / 1000),
    class_uid: classUid,
    type_uid: classUid * 100 + activityId,
    severity_id,
    time: timeMs ?? ctx.receivedAt,
    metadata,
  };
  if (statusId !== undefined) {
    ev.status_id = statusId;
    ev.status = statusId === 2 ? "Failure" : "Success";
  }
  if (errorCode !== undefined) ev.status_code = errorCode;
  if (errorMessage !== undefined) ev.status_detail = errorMessage;
  ev.message = message;
  ev.actor = actor;
  if (user) ev.user = user;
  if (auth) Object.assign(ev, auth);
  if (policy) ev.policy = policy;
  if (group) ev.group = group;
  if (privileges) ev.privileges = privileges;
  ev.api = api;
  ev.src_endpoint = src_endpoint;
  if (dst_endpoint) ev.dst_endpoint = dst_endpoint;
  if (userAgent) ev.http_request = { user_agent: userAgent };
  if (resources) ev.resources = resources;
  const account = cloudAccount ?? envelopeAccount(ctx.envelope);
  ev.cloud = region !== undefined || account ? defined({ provider: "AWS", region, account }) : { provider: "AWS" };
  if (observables.list.length) ev.observables = observables.list;
  const unmapped = rest.build();
  if (unmapped) ev.unmapped = unmapped;
  if (ctx.rawData) ev.raw_data = recText ?? JSON.stringify(rec);
  const captions = CLASS_CAPTIONS[classUid]!;
  // an Account Change that is none of the 1.3.0 activities (99 Other) is named by its eventName, as k8s-audit does with the verb
  const activityName = classUid === ACCOUNT_CHANGE && activityId === 99 ? operation : (captions[activityId] ?? "Other");
  return withCaptions(ev, CLASS_NAMES[classUid]!, activityName);
}
