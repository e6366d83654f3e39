"""Outgoing channels behind small protocols: mail (SMTP, or in memory), SMS, outbound HTTP.

Transports know how to deliver and nothing about GoTrue's rules: services decide what to send
and record the outcome. Built once per app from Settings and kept on the Runtime. Transports
import settings and security at most; never models, services or Flask's request context.
"""
