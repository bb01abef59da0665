"""``hartnode social ...``: the social app from the command line, through the
running daemon's ``/api/v1/social`` routes (the daemon owns the feed and signs
for its local users). Every command takes ``--json`` (the API's answer as is).

    social user create HANDLE [--display-name N] | user list [--all] | user show NAME
    social community create NAME --as H [--description D] [--private]
    social community join|leave COMMUNITY --as H | community list [--as H] | community members C
    social post --as H --title T [--body B] [--community C]
    social comment POST BODY --as H [--parent ID]
    social vote TARGET up|down|clear --as H
    social follow USER --as H [--undo] | mute WORD --as H [--undo]
    social block USER | --post ID | --comment ID --as H [--undo]
    social report TARGET --as H --reason R [--note N] | reports [--community C]
    social moderate POST pin|unpin|lock|unlock --as H
    social label TARGET LABEL [--neg] [--exp-ms MS]   (a regional or central node)
    social feed [--as H] [--community C] [--author USER] [--following] [--limit N] [--before CUR]
    social thread POST [--as H] | notifications --as H [--seen]

COMMUNITY is an id or a name; USER a global name (``alice@1a2b3c4d``) or a
user reference (``alice@<64 hex>``).
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from typing import Any

from hartnode.cli.base import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Parents,
    Subparsers,
    api_request,
    data_dir,
    print_json,
    require_init,
)
from hartnode.datadir import DataDir

PREFIX = "/api/v1/social"
VOTES = {"up": 1, "down": -1, "clear": 0}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def add_parser(sub: Subparsers, parents: Parents) -> None:
    common = [parents.data, parents.json]
    social = sub.add_parser("social", help="the social app: users, communities, posts, "
                            "comments, votes, follows, mutes, blocks, reports")
    s_sub = social.add_subparsers(dest="social_command", required=True,
                                  metavar="SOCIAL_COMMAND")

    def command(name: str, help_text: str, *, acting: bool = False,
                viewing: bool = False) -> argparse.ArgumentParser:
        p = s_sub.add_parser(name, parents=common, help=help_text)
        if acting:
            p.add_argument("--as", dest="as_user", required=True, metavar="HANDLE",
                           help="the local user acting")
        elif viewing:
            p.add_argument("--as", dest="as_user", metavar="HANDLE",
                           help="the local user reading (its blocks and mute words apply)")
        return p

    user = s_sub.add_parser("user", help="local user accounts")
    u_sub = user.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    create = u_sub.add_parser("create", parents=common, help="create a local user")
    create.add_argument("handle")
    create.add_argument("--display-name", default=None)
    listing = u_sub.add_parser("list", parents=common, help="this node's users (--all: every "
                               "user known here)")
    listing.add_argument("--all", action="store_true")
    show = u_sub.add_parser("show", parents=common, help="one user, with follower counts")
    show.add_argument("user")
    user.set_defaults(handler=cmd_user)

    community = s_sub.add_parser("community", help="communities: create, join, leave, list, "
                                 "members, role")
    c_sub = community.add_subparsers(dest="community_command", required=True,
                                     metavar="COMMUNITY_COMMAND")
    c_create = c_sub.add_parser("create", parents=common, help="create a community (you own it)")
    c_create.add_argument("name")
    c_create.add_argument("--description", default=None)
    c_create.add_argument("--private", action="store_true",
                          help="members only: joins wait for the owner (not secret: events "
                          "replicate)")
    for name in ("join", "leave"):
        c = c_sub.add_parser(name, parents=common, help=f"{name} a community")
        c.add_argument("community")
    c_list = c_sub.add_parser("list", parents=common, help="communities, newest first")
    c_list.add_argument("--limit", default=None)
    c_list.add_argument("--before", default=None)
    c_members = c_sub.add_parser("members", parents=common, help="a community's members")
    c_members.add_argument("community")
    c_role = c_sub.add_parser("role", parents=common, help="(owner) make a user moderator or "
                              "member")
    c_role.add_argument("community")
    c_role.add_argument("user")
    c_role.add_argument("role", choices=("moderator", "member"))
    for c in (c_create, c_sub.choices["join"], c_sub.choices["leave"], c_role):
        c.add_argument("--as", dest="as_user", required=True, metavar="HANDLE")
    c_list.add_argument("--as", dest="as_user", metavar="HANDLE")
    community.set_defaults(handler=cmd_community)

    post = command("post", "write a post", acting=True)
    post.add_argument("--title", required=True)
    post.add_argument("--body", default="")
    post.add_argument("--community", default=None)
    post.set_defaults(handler=cmd_post)

    comment = command("comment", "reply to a post or (--parent) to a comment", acting=True)
    comment.add_argument("post")
    comment.add_argument("body")
    comment.add_argument("--parent", default=None)
    comment.set_defaults(handler=cmd_comment)

    vote = command("vote", "vote on a post or comment", acting=True)
    vote.add_argument("target")
    vote.add_argument("value", choices=tuple(VOTES))
    vote.set_defaults(handler=cmd_vote)

    follow = command("follow", "follow a user (--undo: unfollow)", acting=True)
    follow.add_argument("user")
    follow.add_argument("--undo", action="store_true")
    follow.set_defaults(handler=cmd_follow)

    mute = command("mute", "mute a word (local: never leaves this node)", acting=True)
    mute.add_argument("word")
    mute.add_argument("--undo", action="store_true")
    mute.set_defaults(handler=cmd_mute)

    block = command("block", "block a user, or the author of a post or comment (local)",
                    acting=True)
    block.add_argument("user", nargs="?")
    block.add_argument("--post", default=None)
    block.add_argument("--comment", default=None)
    block.add_argument("--undo", action="store_true")
    block.set_defaults(handler=cmd_block)

    report = command("report", "report a post, comment or user", acting=True)
    report.add_argument("target")
    report.add_argument("--reason", required=True)
    report.add_argument("--note", default=None)
    report.set_defaults(handler=cmd_report)
    reports = command("reports", "reports, newest first")
    reports.add_argument("--community", default=None)
    reports.add_argument("--limit", default=None)
    reports.add_argument("--before", default=None)
    reports.set_defaults(handler=cmd_reports)

    moderate = command("moderate", "(community moderators) pin or lock a post", acting=True)
    moderate.add_argument("post")
    moderate.add_argument("action", choices=("pin", "unpin", "lock", "unlock"))
    moderate.set_defaults(handler=cmd_moderate)

    label = command("label", "label content or a user (a regional or central node; its "
                    "installed certificate chain rides along)")
    label.add_argument("target")
    label.add_argument("label")
    label.add_argument("--neg", action="store_true", help="withdraw the label")
    label.add_argument("--exp-ms", type=int, default=None, help="when it ends (ms since epoch)")
    label.set_defaults(handler=cmd_label)

    feed = command("feed", "posts, newest first", viewing=True)
    feed.add_argument("--community", default=None)
    feed.add_argument("--author", default=None)
    feed.add_argument("--following", action="store_true")
    feed.add_argument("--limit", default=None)
    feed.add_argument("--before", default=None)
    feed.set_defaults(handler=cmd_feed)

    thread = command("thread", "a post and its comments as a tree", viewing=True)
    thread.add_argument("post")
    thread.set_defaults(handler=cmd_thread)

    notes = command("notifications", "replies, mentions and follows", acting=True)
    notes.add_argument("--seen", action="store_true", help="then mark them all read")
    notes.set_defaults(handler=cmd_notifications)


# -- plumbing -------------------------------------------------------------------


def _dd(args: argparse.Namespace) -> DataDir:
    dd = data_dir(args)
    require_init(dd)
    return dd


def _get(dd: DataDir, path: str, **query: Any) -> Any:
    params = {k: str(v) for k, v in query.items() if v is not None}
    qs = f"?{urllib.parse.urlencode(params)}" if params else ""
    return api_request(dd, f"{PREFIX}{path}{qs}")


def _post(dd: DataDir, path: str, body: dict[str, Any]) -> Any:
    return api_request(dd, f"{PREFIX}{path}", {k: v for k, v in body.items() if v is not None})


def _user(dd: DataDir, name: str) -> str:
    """The user reference of a global name or reference."""
    return str(_get(dd, "/user", user=name)["id"])


def _community(dd: DataDir, value: str) -> str:
    """An id as is; a name looked up (it must name one community)."""
    if _HEX64.fullmatch(value):
        return value
    found = _get(dd, "/communities", name=value, limit=2)["items"]
    if len(found) != 1:
        raise CliError(f"{'no' if not found else 'more than one'} community named {value!r}",
                       "give its id (see `hartnode social community list`)", EXIT_USAGE)
    return str(found[0]["id"])


def _done(args: argparse.Namespace, answer: Any, text: str) -> int:
    if args.json:
        print_json(answer)
    else:
        print(text)
    return EXIT_OK


def _post_line(p: dict[str, Any]) -> str:
    flags = "".join(f" [{f}]" for f in ("pinned", "locked") if p.get(f))
    where = f" in {p['community']['name']}" if p.get("community") else ""
    return (f"{p['id'][:12]}  {p['score']:+d}  {p['title']}{flags}\n"
            f"              by {p['author']['name']}{where}, {p['comment_count']} comments")


# -- commands ---------------------------------------------------------------------


def cmd_user(args: argparse.Namespace) -> int:
    dd = _dd(args)
    if args.user_command == "create":
        made = _post(dd, "/users", {"handle": args.handle, "display_name": args.display_name})
        return _done(args, made, f"created {made['user']['name']}")
    if args.user_command == "show":
        user = _get(dd, "/user", user=args.user)
        return _done(args, user, f"{user['name']}  {user['display_name']}  karma {user['karma']}"
                     f"  followers {user['followers']}  following {user['following']}")
    page = _get(dd, "/users", scope="all" if args.all else "local")
    return _done(args, page, "\n".join(f"{u['name']}  {u['display_name']}"
                                       for u in page["items"]))


def cmd_community(args: argparse.Namespace) -> int:
    dd = _dd(args)
    which = args.community_command
    if which == "create":
        made = _post(dd, "/communities", {
            "as": args.as_user, "name": args.name, "description": args.description,
            "visibility": "private" if args.private else "public"})
        return _done(args, made, f"created community {args.name} {made['id']}")
    if which == "list":
        page = _get(dd, "/communities", limit=args.limit, before=args.before,
                    **({"as": args.as_user} if args.as_user else {}))
        return _done(args, page, "\n".join(
            f"{c['id'][:12]}  {c['name']}  ({c['visibility']}, {c['member_count']} members)"
            + (f"  [{c['my_role']}]" if c["my_role"] else "") for c in page["items"]))
    cid = _community(dd, args.community)
    if which == "members":
        page = _get(dd, "/communities/members", community=cid)
        return _done(args, page, "\n".join(f"{m['user']['name']}  {m['role']}"
                                           for m in page["items"]))
    if which == "role":
        made = _post(dd, "/communities/role", {"as": args.as_user, "community": cid,
                                               "user": _user(dd, args.user),
                                               "role": args.role})
        return _done(args, made, f"{args.user} is now {args.role}")
    made = _post(dd, f"/communities/{which}", {"as": args.as_user, "community": cid})
    return _done(args, made, f"{which} {cid[:12]}: done")


def cmd_post(args: argparse.Namespace) -> int:
    dd = _dd(args)
    community = None if args.community is None else _community(dd, args.community)
    made = _post(dd, "/posts", {"as": args.as_user, "title": args.title, "body": args.body,
                                "community": community})
    return _done(args, made, f"posted {made['id']}")


def cmd_comment(args: argparse.Namespace) -> int:
    dd = _dd(args)
    made = _post(dd, "/comments", {"as": args.as_user, "post": args.post,
                                   "parent": args.parent, "body": args.body})
    return _done(args, made, f"commented {made['id']}")


def cmd_vote(args: argparse.Namespace) -> int:
    made = _post(_dd(args), "/votes", {"as": args.as_user, "target": args.target,
                                       "value": VOTES[args.value]})
    return _done(args, made, f"voted {args.value}")


def cmd_follow(args: argparse.Namespace) -> int:
    dd = _dd(args)
    made = _post(dd, "/follows", {"as": args.as_user, "user": _user(dd, args.user),
                                  "follow": not args.undo})
    return _done(args, made, f"{'unfollowed' if args.undo else 'following'} {args.user}")


def cmd_mute(args: argparse.Namespace) -> int:
    made = _post(_dd(args), "/mutes", {"as": args.as_user, "word": args.word,
                                       "on": not args.undo})
    return _done(args, made, f"{'unmuted' if args.undo else 'muted'} {args.word!r}")


def cmd_block(args: argparse.Namespace) -> int:
    dd = _dd(args)
    given = [x for x in (args.user, args.post, args.comment) if x is not None]
    if len(given) != 1:
        raise CliError("name one of USER, --post or --comment", "see `hartnode social block "
                       "--help`", EXIT_USAGE)
    body: dict[str, Any] = {"as": args.as_user, "on": not args.undo}
    if args.user is not None:
        body["user"] = _user(dd, args.user)
    else:
        body["post" if args.post else "comment"] = args.post or args.comment
    made = _post(dd, "/blocks", body)
    return _done(args, made, f"{'unblocked' if args.undo else 'blocked'} {made['user']}")


def cmd_report(args: argparse.Namespace) -> int:
    dd = _dd(args)
    target = args.target if _HEX64.fullmatch(args.target) else _user(dd, args.target)
    made = _post(dd, "/reports", {"as": args.as_user, "target": target,
                                  "reason": args.reason, "note": args.note})
    return _done(args, made, f"reported {made['id']}")


def cmd_reports(args: argparse.Namespace) -> int:
    dd = _dd(args)
    community = None if args.community is None else _community(dd, args.community)
    page = _get(dd, "/reports", community=community, limit=args.limit, before=args.before)
    return _done(args, page, "\n".join(
        f"{r['content_type']} {r['content_id'][:12]}  {r['reason']}  by {r['reporter']['name']}"
        for r in page["items"]))


def cmd_moderate(args: argparse.Namespace) -> int:
    made = _post(_dd(args), "/moderate", {"as": args.as_user, "post": args.post,
                                          "action": args.action})
    return _done(args, made, f"{args.action}: done")


def cmd_label(args: argparse.Namespace) -> int:
    from hartnode.attestation.certificate import CertificateError, parse_chain_file
    from hartnode.datadir import CHAIN_FILE

    dd = _dd(args)
    chain_path = dd.path / CHAIN_FILE
    try:
        chain = [{"cert": link.cert_bytes.hex(), "sig": link.signature.hex()}
                 for link in parse_chain_file(chain_path.read_bytes())]
    except FileNotFoundError as e:
        raise CliError(f"no certificate chain in {chain_path}: only a regional or central "
                       "node's labels count", "install one with `hartnode cert install`",
                       EXIT_USAGE) from e
    except (CertificateError, OSError) as e:
        raise CliError(f"{chain_path} is unusable: {e}", "reinstall it with "
                       "`hartnode cert install`") from e
    target = args.target if _HEX64.fullmatch(args.target) else _user(dd, args.target)
    made = _post(dd, "/labels", {"target": target, "label": args.label, "neg": args.neg,
                                 "exp_ms": args.exp_ms, "chain": chain})
    return _done(args, made, f"labelled {target[:12]} {args.label}"
                 f"{' (withdrawn)' if args.neg else ''}")


def cmd_feed(args: argparse.Namespace) -> int:
    dd = _dd(args)
    community = None if args.community is None else _community(dd, args.community)
    author = None if args.author is None else _user(dd, args.author)
    page = _get(dd, "/feed", community=community, author=author, limit=args.limit,
                before=args.before, following="true" if args.following else None,
                **({"as": args.as_user} if args.as_user else {}))
    lines = [_post_line(p) for p in page["items"]]
    if page["next"]:
        lines.append(f"more: --before {page['next']}")
    return _done(args, page, "\n".join(lines))


def _tree(comments: list[dict[str, Any]], depth: int, out: list[str]) -> None:
    for c in comments:
        pad = "  " * depth
        if c["hidden"]:
            out.append(f"{pad}- [{c['hidden']}]")
        elif c["deleted"]:
            out.append(f"{pad}- [deleted]")
        else:
            out.append(f"{pad}- {c['author']['name']} ({c['score']:+d}): {c['body']}")
        _tree(c["replies"], depth + 1, out)


def cmd_thread(args: argparse.Namespace) -> int:
    dd = _dd(args)
    found = _get(dd, "/thread", post=args.post, **({"as": args.as_user} if args.as_user else {}))
    out = [_post_line(found["post"]), found["post"]["body"], ""]
    _tree(found["comments"], 0, out)
    return _done(args, found, "\n".join(out))


def cmd_notifications(args: argparse.Namespace) -> int:
    dd = _dd(args)
    page = _get(dd, "/notifications", **{"as": args.as_user})
    if args.seen:
        _post(dd, "/notifications/seen", {"as": args.as_user})
    return _done(args, page, "\n".join(
        f"{'  ' if n['read'] else '* '}{n['type']:<8} {n['actor']['name']}"
        + (f"  post {n['post_id'][:12]}" if n["post_id"] else "") for n in page["items"]))
