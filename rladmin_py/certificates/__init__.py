"""Certificates: PEM text and files, the pre-flight checks RS applies, making certificates, practice sets."""
