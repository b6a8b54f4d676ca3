"""Runbooks: scripted Python procedures the bot runs from chat, one step at a time.

A runbook file declares its metadata with the decorators of `bot.runbooks.sdk`.
Metadata is declared, not executed: listing, help and validation read the file
with `ast` (`bot.runbooks.discovery`) and run neither a step nor any module code.
"""
