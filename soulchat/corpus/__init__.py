"""soulchat.corpus"""
