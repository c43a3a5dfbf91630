import type { Auth, AuthDecision, AuthTarget, Identity } from '../../auth.js';
import type { ProxyRequest } from '../../pipeline.js';

/** What a signature (a temp URL, a form) lets its bearer do. */
export interface SignedGrant {
  /** The methods signed for (a temp URL: the request's; a form: PUT). */
  methods: readonly string[];
  account: string;
  container: string;
  /** The one object signed for, or (`prefix: true`) the start every object name must have. */
  object: string;
  prefix?: boolean;
  /**
   * Reads the pipeline's own sub-requests may make beside the signed object (the segments of a
   * large object the signed GET returns): the key's scope, as Swift's authorize_same_account /
   * authorize_same_container allow; undefined: none.
   */
  subrequestReads?: { account: string; container?: string };
}

/**
 * The auth of a request a signature authorized (Swift's swift.authorize for temp URLs and form
 * posts, with swift.authorize_override so tempauth leaves it alone): no identity, and an
 * authorize hook that allows exactly the signed object (or the signed prefix) with the signed
 * methods, and nothing else: a PUT temp URL cannot also copy from elsewhere, a form cannot write
 * into another container. Stricter than Swift, which lets a temp URL reach its whole account (or
 * container); only GET/HEAD sub-requests of the pipeline itself (segments of a large object)
 * may read within the key's scope, when the grant says so. A refusal is 401, as Swift's.
 */
export class SignedAuth implements Auth {
  constructor(private readonly grant: SignedGrant) {}

  authenticate(): Identity | undefined {
    return undefined;
  }

  async authorize(req: ProxyRequest, t: AuthTarget): Promise<AuthDecision> {
    return this.allows(req, t) ? 'allow' : 401;
  }

  /** The decision, synchronous (the grant needs no lookup). */
  allows(req: Pick<ProxyRequest, 'source'>, t: AuthTarget): boolean {
    const g = this.grant;
    if (t.account !== g.account) return false;
    if (t.object !== undefined && t.container === g.container && g.methods.includes(t.method) && (g.prefix ? t.object.startsWith(g.object) : t.object === g.object)) return true;
    const reads = g.subrequestReads;
    if (!reads || req.source === undefined || (t.method !== 'GET' && t.method !== 'HEAD')) return false;
    // A DLO lists its segment container: a container GET is a read within the scope too (Swift's
    // authorize_same_container splits the path with the object optional). Never the account's.
    if (t.container === undefined) return false;
    return t.account === reads.account && (reads.container === undefined || t.container === reads.container);
  }
}
