"""makemessages that also finds the web scripts' strings: they call t(), tf()
and tn() (static/js/dom.js) rather than gettext()."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=t", "--keyword=tf", "--keyword=tn:1,2"]
