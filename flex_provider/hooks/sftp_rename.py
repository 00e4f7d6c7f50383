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


def _exists(sftp: SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except OSError:
        return False
    return True


def rename_replacing(sftp: SFTPClient, source: str, target: str) -> None:
    """``source`` becomes ``target`` (paramiko), replacing it: posix-rename, else the plain rename."""
    try:
        sftp.posix_rename(source, target)
        return
    except OSError:  # refused, or unknown to the server: the plain rename below says which
        pass
    try:
        sftp.rename(source, target)
    except OSError:
        if not (_exists(sftp, source) and _exists(sftp, target)):  # nothing of ours to put in its place
            raise
        sftp.remove(target)
        sftp.rename(source, target)


async def rename_replacing_async(sftp: Any, source: str, target: str) -> None:
    """The same over an ``asyncssh.SFTPClient``."""
    import asyncssh

    try:
        await sftp.posix_rename(source, target)
        return
    except (asyncssh.SFTPOpUnsupported, asyncssh.SFTPPermissionDenied, asyncssh.SFTPFailure):
        pass
    try:
        await sftp.rename(source, target)
    except asyncssh.SFTPError:
        if not (await sftp.exists(source) and await sftp.exists(target)):
            raise
        await sftp.remove(target)
        await sftp.rename(source, target)
