"""
Put a finished file under its final name on any SFTP server.

``posix-rename@openssh.com`` replaces the target in one step, so a reader never sees the final name
missing or partial; OpenSSH has it, but many managed SFTP services do not (they refuse it, or do not
advertise it). Without it, the protocol's plain rename is used: that one never replaces an existing
name, so a target that already exists (an earlier upload of another size, an outbound file moved
before) is removed first, and only when the source is still there to take its place. Either way the
final name never holds partial content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paramiko import SFTPClient


def remote_size(sftp: SFTPClient, path: str) -> int | None:
    """The size of a remote path (paramiko), or None when it does not exist."""
    try:
        return sftp.stat(path).st_size
    except FileNotFoundError:
        return None


def rename_replacing(sftp: SFTPClient, source: str, target: str) -> None:
    """``source`` becomes ``target`` (paramiko), replacing it: posix-rename, else the plain rename."""
    try:
        sftp.posix_rename(source, target)
    except OSError:  # refused, or unknown to the server: the plain rename says which
        _plain_rename(sftp, source, target)


def _plain_rename(sftp: SFTPClient, source: str, target: str) -> None:
    try:
        sftp.rename(source, target)
    except OSError:
        if remote_size(sftp, source) is None or remote_size(sftp, target) is None:
            raise  # nothing of ours to put in its place, or nothing in the way
        sftp.remove(target)
        sftp.rename(source, target)


async def rename_replacing_async(sftp: Any, source: str, target: str) -> None:
    """The same over an ``asyncssh.SFTPClient``."""
    import asyncssh

    try:
        await sftp.posix_rename(source, target)
    except (asyncssh.SFTPOpUnsupported, asyncssh.SFTPPermissionDenied, asyncssh.SFTPFailure):
        await _plain_rename_async(sftp, source, target)


async def _plain_rename_async(sftp: Any, source: str, target: str) -> None:
    import asyncssh

    try:
        await sftp.rename(source, target)
    except asyncssh.SFTPError:
        if not (await sftp.exists(source) and await sftp.exists(target)):
            raise
        await sftp.remove(target)
        await sftp.rename(source, target)
