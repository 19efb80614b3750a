"""soulchat.rewrite"""
