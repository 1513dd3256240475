"""Accounts' actions, one module per verb family: sessions, login, sms,
profile, with the field rules and the failure limits they share. Import
from the module."""
